"""Stream a multipart upload straight to a temp file, counting bytes as they arrive.

Starlette's form parsing would buffer the whole body before the route runs; parsing the
request stream ourselves lets a too-large upload (with or without Content-Length) be
stopped at the first byte past the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from audio_service.errors import InvalidRequest, UploadTooLarge

FILE_FIELD = b"file"
#: Room for multipart headers and other small fields around the file.
_ENVELOPE_BYTES = 64 * 1024
#: What is read (and dropped) of a body after it passed the limit, before answering.
DRAIN_BYTES = 256 * 1024
DRAIN_SECONDS = 2.0
#: Parts per body. python-multipart bounds each part's headers; thousands of tiny parts
#: would still cost a callback storm per request.
MAX_PARTS = 8


class _Receiver:
    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.size = 0
        self.filename: str | None = None
        #: Of the file's bytes as they arrive: the analysis cache's key.
        self.digest = hashlib.sha256()
        self.found = False
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._parts = 0
        self._out: IO[bytes] | None = None

    def on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise InvalidRequest(f"multipart body has more than {MAX_PARTS} parts")
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if params.get(b"name") == FILE_FIELD and not self.found:
            self.found = True
            raw = params.get(b"filename")
            # Kept only as a label for the job record; never used as a path.
            self.filename = raw.decode("utf-8", "replace")[:255] if raw else None
            self._out = open(self.path, "wb")  # noqa: SIM115 - closed in on_part_end/close

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._out is None:
            return
        self.size += end - start
        if self.size > self.max_bytes:
            raise UploadTooLarge(f"upload is larger than {self.max_bytes // (1024 * 1024)} MB")
        self._out.write(data[start:end])
        self.digest.update(data[start:end])

    def on_part_end(self) -> None:
        self.close()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


class BodyLeftUnread(UploadTooLarge):
    """Too large, and the client is still sending: the answer must close the connection."""


async def _refuse(
    chunks: AsyncIterator[bytes], max_bytes: int, remaining: int | None
) -> UploadTooLarge:
    """The error for a body past the limit, after reading a little more of it.

    A client that is still writing when the server answers and closes may see a reset
    instead of the 413. So, like a web server's lingering close, read (and drop) up to
    :data:`DRAIN_BYTES` or :data:`DRAIN_SECONDS` more: a body that ends there gets a
    clean answer on a connection that stays open; a longer one gets its connection closed
    (otherwise the server would read, and drop, for as long as the client sends).
    ``remaining`` is what the Content-Length says is still to come, if it says.
    """
    message = f"upload is larger than {max_bytes // (1024 * 1024)} MB"
    if remaining is not None and remaining > DRAIN_BYTES:
        return BodyLeftUnread(message)
    left = DRAIN_BYTES
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for chunk in chunks:
                left -= len(chunk)
                if left < 0:
                    return BodyLeftUnread(message)
    except TimeoutError:
        return BodyLeftUnread(message)
    except ClientDisconnect:
        pass
    return UploadTooLarge(message)


async def receive_upload(
    request: Request, dest_dir: Path, max_bytes: int
) -> tuple[Path, str | None, str]:
    """Save the ``file`` field of a multipart request.

    Returns its path, the client's filename and the sha256 (hex) of its bytes.
    """
    chunks = request.stream()
    header = request.headers.get("content-length", "")
    declared = int(header) if header.isdigit() else None
    if declared is not None and declared > max_bytes + _ENVELOPE_BYTES:
        raise await _refuse(chunks, max_bytes, declared)
    _, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidRequest("multipart body without a boundary")
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"{secrets.token_hex(16)}.upload"
    receiver = _Receiver(path, max_bytes)
    callbacks = {
        name: getattr(receiver, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    try:
        received = 0
        parser = MultipartParser(boundary, callbacks, max_size=max_bytes + _ENVELOPE_BYTES)  # type: ignore[arg-type]
        async for chunk in chunks:
            received += len(chunk)
            if received > max_bytes + _ENVELOPE_BYTES:
                raise UploadTooLarge(f"upload is larger than {max_bytes // (1024 * 1024)} MB")
            parser.write(chunk)
        parser.finalize()
        if not receiver.found:
            raise InvalidRequest("multipart body has no 'file' field")
        if receiver.size == 0:
            raise InvalidRequest("the uploaded file is empty")
    except BaseException as exc:
        receiver.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        if isinstance(exc, UploadTooLarge):
            remaining = None if declared is None else declared - received
            raise await _refuse(chunks, max_bytes, remaining) from None
        if isinstance(exc, ClientDisconnect):
            # An abandoned upload is routine, not a server error worth a traceback.
            raise InvalidRequest("the upload was interrupted") from None
        if isinstance(exc, ValueError) and not isinstance(exc, InvalidRequest):
            raise InvalidRequest(f"malformed multipart body: {exc}") from exc
        raise
    receiver.close()
    return path, receiver.filename, receiver.digest.hexdigest()

"""Uploads: the size limit holds while bytes stream in, and nothing of the upload lingers.

The ``strict`` server accepts at most ``MAX_UPLOAD_MB=1`` and 20 s of audio.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from tests.hardening.conftest import STRICT, job_end
from tests.support.server import ServiceProcess
from tests.support.signals import SR, music

LIMIT = int(STRICT["max_upload_mb"]) * 1024 * 1024  # type: ignore[call-overload]
BOUNDARY = "hardening-boundary"


def _upload_files(server: ServiceProcess) -> list[str]:
    """Every file the server keeps anywhere under its TEMP_DIR (logs aside)."""
    root = server.log.parent
    return [
        str(Path(d) / f) for d, _, files in os.walk(root) for f in files if not f.endswith(".log")
    ]


async def _wait_no_files(server: ServiceProcess, timeout: float = 5) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := _upload_files(server)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return left


def _head(body_length: int | None) -> bytes:
    framing = (
        f"Content-Length: {body_length}"
        if body_length is not None
        else "Transfer-Encoding: chunked"
    )
    return (
        "POST /api/analyze HTTP/1.1\r\nHost: test\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{framing}\r\n\r\n"
    ).encode()


def _part_head(filename: str = "big.wav") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    status_line = await reader.readline()
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return int(status_line.split()[1]), head.lower(), await reader.readexactly(length)


async def test_chunked_upload_without_length_is_cut_off_at_the_limit(
    strict: ServiceProcess,
) -> None:
    """No Content-Length: the server counts bytes as they come and answers 413 mid-body,
    closing the connection once a little more has come and the body still goes on."""
    reader, writer = await asyncio.open_connection("127.0.0.1", strict.port)
    writer.transport.set_write_buffer_limits(high=64 * 1024)
    writer.write(_head(None))
    piece = b"\0" * 64 * 1024
    offered = 32 * LIMIT
    sent = 0
    answer = asyncio.create_task(_response(reader))
    try:
        writer.write(b"%x\r\n%s\r\n" % (len(_part_head()), _part_head()))
        while sent < offered and not answer.done():
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
            await writer.drain()
            await asyncio.sleep(0)  # let the reader see an early answer
    except ConnectionError:
        pass  # the server closed the connection after answering: what we want
    try:
        status, head, body = await asyncio.wait_for(answer, 10)
    except ConnectionResetError:
        # Closing while the client still writes makes the kernel reset the connection,
        # and a reset may overtake the answer: a client that keeps sending gets cut off.
        pass
    else:
        assert status == 413 and b'"TOO_LARGE"' in body, body
        assert b"connection: close" in head
    writer.close()
    # Stopped early, and the connection closed: what got through is the limit plus the
    # kernel's socket buffers, far from the 32 MiB the client was ready to send.
    assert sent < offered / 2, f"the server took {sent / 2**20:.1f} MiB"
    assert await _wait_no_files(strict) == []


async def test_declared_length_over_the_limit_is_refused_before_the_body(
    strict: ServiceProcess,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", strict.port)
    writer.write(_head(50 * LIMIT))
    await writer.drain()
    status, head, body = await asyncio.wait_for(_response(reader), 5)
    writer.close()
    assert status == 413 and b'"TOO_LARGE"' in body
    # The declared body is not coming in full, but could: the connection is closed.
    assert b"connection: close" in head


async def test_an_abandoned_upload_leaves_no_file_and_no_error_in_the_log(
    strict: ServiceProcess,
) -> None:
    tracebacks = strict.output().count("Traceback")
    _, writer = await asyncio.open_connection("127.0.0.1", strict.port)
    writer.write(_head(LIMIT // 2) + _part_head() + b"\0" * (LIMIT // 4))
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.transport.abort()
    assert await _wait_no_files(strict) == []
    await asyncio.sleep(0.3)
    assert strict.output().count("Traceback") == tracebacks, strict.output()[-2000:]


def _wav_of_size(size: int) -> bytes:
    """A valid 16-bit mono WAV of exactly ``size`` bytes (44-byte header)."""
    frames = (size - 44) // 2
    buffer = io.BytesIO()
    sf.write(buffer, music(frames / SR, seed=3)[:frames], SR, format="WAV", subtype="PCM_16")
    data = buffer.getvalue()
    assert len(data) == size
    return data


async def test_limit_is_exact_to_the_byte(strict: ServiceProcess) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        at_limit = await http.post(
            strict.url + "/api/analyze", files={"file": ("a.wav", _wav_of_size(LIMIT))}
        )
        over = await http.post(
            strict.url + "/api/analyze", files={"file": ("b.wav", _wav_of_size(LIMIT + 2))}
        )
    assert at_limit.status_code == 202, at_limit.text
    assert over.status_code == 413 and over.json()["code"] == "TOO_LARGE"
    # What was left of the body was read, so the answer came cleanly, connection kept.
    assert "connection" not in over.headers
    job = await job_end(strict.url, at_limit.json()["job_id"])
    assert job["status"] == "complete"
    assert await _wait_no_files(strict) == []


async def _post_raw(server: ServiceProcess, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            server.url + "/api/analyze",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
        )


async def test_a_huge_multipart_header_is_refused_without_buffering_it(
    strict: ServiceProcess,
) -> None:
    """Headers are buffered (the file is not): one the size of the upload must not be."""
    huge = b"X-Padding: " + b"a" * (LIMIT - 1024) + b"\r\n"
    body = _part_head()[:-2] + huge + b"\r\n" + b"RIFF" + f"\r\n--{BOUNDARY}--\r\n".encode()
    started = time.monotonic()
    response = await _post_raw(strict, body)
    assert response.status_code == 400 and response.json()["code"] == "INVALID_REQUEST"
    assert time.monotonic() - started < 2
    assert await _wait_no_files(strict) == []


async def test_thousands_of_empty_parts_are_refused(strict: ServiceProcess) -> None:
    parts = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'.encode()
        for i in range(5000)
    )
    response = await _post_raw(strict, parts + f"--{BOUNDARY}--\r\n".encode())
    assert response.status_code == 400 and "parts" in response.json()["error"]


async def test_client_filenames_are_labels_never_paths(
    strict: ServiceProcess, tmp_path: Path
) -> None:
    """Names are sent raw (httpx would escape them): traversal, NUL, CR/LF, 4 KiB."""
    target = tmp_path / "pwned.wav"
    hostile = [
        b"../" * 12 + str(target).lstrip("/").encode(),
        str(target).encode(),
        b"..\\..\\..\\pwned.wav",
        b"a\0b.wav",
        b"x" * 4096 + b".wav",
        b"con.wav\r\nX-Injected: 1",
        b"%2e%2e%2fpwned.wav",
        "\u202etxt.wav".encode(),
    ]
    data = _wav_of_size(200_000)
    for name in hostile:
        body = (
            f"--{BOUNDARY}\r\n".encode()
            + b'Content-Disposition: form-data; name="file"; filename="'
            + name
            + b'"\r\n\r\n'
            + data
            + f"\r\n--{BOUNDARY}--\r\n".encode()
        )
        response = await _post_raw(strict, body)
        # Refusing a mangled part is fine; a server error or a file outside is not.
        assert response.status_code in (202, 400), (name[:40], response.text)
        if response.status_code == 202:
            job = await job_end(strict.url, response.json()["job_id"])
            assert job["status"] == "complete", job
            assert "pwned" not in str(job) and "Injected" not in str(job)
    assert not target.exists()
    assert not Path("/tmp/pwned.wav").exists()
    assert await _wait_no_files(strict) == []


def _flac_of_unknown_length(seconds: float) -> bytes:
    """A FLAC whose STREAMINFO says "length unknown" (total samples 0, which is legal)."""
    buffer = io.BytesIO()
    # 8 kHz keeps it well under the upload limit.
    sf.write(buffer, music(seconds, sr=8000, seed=4), 8000, format="FLAC")
    data = bytearray(buffer.getvalue())
    word = int.from_bytes(data[18:26], "big")
    data[18:26] = (word >> 36 << 36).to_bytes(8, "big")  # the low 36 bits: total samples
    return bytes(data)


async def test_duration_limit_holds_when_the_header_states_no_length(
    strict: ServiceProcess,
) -> None:
    """Only the decoded stream can tell: the job stops at the limit with TOO_LONG."""
    limit = float(STRICT["max_audio_duration"])  # type: ignore[arg-type]
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            strict.url + "/api/analyze",
            files={"file": ("long.flac", _flac_of_unknown_length(limit + 5))},
        )
    assert response.status_code == 202
    job = await job_end(strict.url, response.json()["job_id"])
    assert job["status"] == "error" and job["error"]["code"] == "TOO_LONG", job


async def test_duration_limit_from_the_header_refuses_before_decoding(
    strict: ServiceProcess,
) -> None:
    limit = float(STRICT["max_audio_duration"])  # type: ignore[arg-type]
    # 8-bit silence keeps the file under the upload limit.
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(int((limit + 5) * 8000)), 8000, format="WAV", subtype="PCM_U8")
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            strict.url + "/api/analyze", files={"file": ("long.wav", buffer.getvalue())}
        )
    job = await job_end(strict.url, response.json()["job_id"])
    assert job["error"]["code"] == "TOO_LONG", job
    assert "limit" in job["error"]["message"]

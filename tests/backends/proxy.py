"""A loopback TCP proxy in front of the real Redis, to break connections on purpose.

No Redis behaviour is imitated: every byte goes to and comes from the real server. The
proxy only decides when a connection dies, which is what Redis failures look like to a
client.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class FaultyProxy:
    def __init__(self, redis_url: str) -> None:
        parts = urlsplit(redis_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._db = parts.path or "/0"
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        #: Drop the connection instead of forwarding the next reply from Redis.
        self.drop_next_reply = False
        self.dropped = 0
        #: Connections closed by :meth:`cut_all`.
        self.cut = 0

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}{self._db}"

    async def start(self) -> FaultyProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut_all()
        if self._server is not None:
            await self._server.wait_closed()

    def cut_all(self) -> None:
        """Close every open connection, as a Redis restart would."""
        for writer in list(self._writers):
            writer.close()
        self.cut += len(self._writers)
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(
                self._pump(reader, up_writer), self._pump(up_reader, writer, replies=True)
            )
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.close()

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, replies: bool = False
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(65536):
                if replies and self.drop_next_reply:
                    self.drop_next_reply = False
                    self.dropped += 1
                    break
                dst.write(data)
                await dst.drain()
        dst.close()

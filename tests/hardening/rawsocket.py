"""A Socket.IO v5 client spoken by hand over one websocket.

python-socketio's client always reads, validates what it sends and reconnects; attacks
need a client that sends anything, stops reading on purpose and costs little per
connection (the hygiene test opens ten thousand).
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"


class RawSocket:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.sid = ""
        self._next_ack = 0

    @classmethod
    async def open(cls, base_url: str, *, rcvbuf: int | None = None, **kwargs: Any) -> RawSocket:
        """Connect, join the default namespace and take the ``connected`` greeting.

        ``rcvbuf`` shrinks the kernel's receive buffer, so a client that stops reading
        pushes back on the server after a few KiB instead of a few MiB.
        """
        if rcvbuf is not None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            host, port = base_url.removeprefix("http://").split(":")
            sock.connect((host, int(port)))
            kwargs["sock"] = sock
        # An unbounded client queue by default: with a full one, websockets stops reading
        # and a graceful close waits for a close frame it cannot see.
        kwargs.setdefault("max_queue", None)
        ws = await connect(
            ws_url(base_url), compression=None, open_timeout=10, close_timeout=2, **kwargs
        )
        raw = cls(ws)
        opening = await raw.recv(10)
        assert opening.startswith("0{"), opening
        await ws.send("40")
        while not (packet := await raw.recv(10)).startswith("40"):
            pass
        raw.sid = json.loads(packet[2:])["sid"]
        while not (packet := await raw.recv(10)).startswith('42["connected"'):
            pass
        return raw

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def emit(self, *args: Any, ack: bool = False) -> int | None:
        """Send an EVENT packet of ``args`` (event name first); return its ack id if asked."""
        ack_id = None
        if ack:
            ack_id = self._next_ack
            self._next_ack += 1
        await self.ws.send(f"42{'' if ack_id is None else ack_id}{json.dumps(list(args))}")
        return ack_id

    async def recv(self, timeout: float) -> str:
        """The next packet other than an engine.io ping (answered here)."""
        while True:
            packet = await asyncio.wait_for(self.ws.recv(), timeout)
            assert isinstance(packet, str)
            if packet == "2":
                await self.ws.send("3")
                continue
            return packet

    async def call(self, *args: Any, timeout: float = 10) -> tuple[Any, list[Any]]:
        """Emit with an ack; return the ack's payload and the events received meanwhile."""
        ack_id = await self.emit(*args, ack=True)
        events: list[Any] = []
        prefix = f"43{ack_id}"
        while True:
            packet = await self.recv(timeout)
            if packet.startswith(prefix + "["):
                return json.loads(packet[len(prefix) :])[0], events
            if packet.startswith("42"):
                events.append(json.loads(packet[2:]))

    async def drain(self, quiet: float = 0.3) -> list[str]:
        """Every packet until none arrives for ``quiet`` seconds or the server closes."""
        packets: list[str] = []
        try:
            while True:
                packets.append(await self.recv(quiet))
        except (TimeoutError, ConnectionClosed):
            return packets

    @property
    def closed(self) -> bool:
        return self.ws.close_code is not None

    async def close(self) -> None:
        await self.ws.close()


def events_of(packets: list[str]) -> list[tuple[str, Any]]:
    """``(name, payload)`` of the EVENT packets among ``packets``."""
    found = []
    for packet in packets:
        if packet.startswith("42["):
            name, *rest = json.loads(packet[2:])
            found.append((name, rest[0] if rest else None))
    return found

"""Every line that reaches into python-socketio's and python-engineio's internals.

The hub queues each packet straight on the recipient's engine.io send queue instead of
``AsyncServer.emit``, which would create an asyncio task per recipient per packet (see
docs/BENCHMARKS.md), and reads that queue's depth to find slow consumers; the server
subclasses engine.io's server to close refused long-polling sessions without waiting.
None of that is public API, so it lives here alone, the package versions are bounded
below the next major in ``pyproject.toml``, and ``tests/websocket/test_engineio_adapter.py``
pins each behaviour relied on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import engineio
import engineio.packet
import socketio

from audio_service.websocket.lean import LeanQueue

#: The only Socket.IO namespace the service uses.
NAMESPACE = "/"

#: An engine.io packet (python-engineio has no type hints).
Packet = Any


def message_packet(text: str) -> Packet:
    """An engine.io MESSAGE packet carrying Socket.IO packet text (built once per event)."""
    return engineio.packet.Packet(engineio.packet.MESSAGE, data=text)


class Outbox:
    """The send queue of one connected socket's engine.io session.

    The socket's own writer task sends whatever has queued in one go, so queueing never
    waits and the hub never yields per packet.
    """

    __slots__ = ("_socket", "backlog", "put")

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        queue = socket.queue
        #: Packets queued and not yet written to the transport.
        self.backlog: Callable[[], int] = queue.qsize
        #: Queue a packet; the queue is unbounded, so this is what ``await socket.send``
        #: does, minus a coroutine per recipient.
        self.put: Callable[[Packet], None] = queue.put_nowait

    @property
    def closed(self) -> bool:
        return bool(self._socket.closed)


def is_connected(sio: socketio.AsyncServer, sid: str) -> bool:
    """Whether ``sid`` is connected; False already while its disconnect is being handled."""
    return bool(sio.manager.is_connected(sid, NAMESPACE))


def outbox(sio: socketio.AsyncServer, sid: str) -> Outbox | None:
    """The outbox of a connected socket, or None when it is gone or going."""
    eio_sid = sio.manager.eio_sid_from_sid(sid, NAMESPACE)
    socket = sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
    if socket is None or not is_connected(sio, sid):
        return None
    return Outbox(socket)


def backlogs(sio: socketio.AsyncServer) -> Iterator[int]:
    """The send-queue depth of every engine.io session of this server (for benchmarks)."""
    for socket in list(sio.eio.sockets.values()):
        yield socket.queue.qsize()


class _EngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    """Sessions with a lean send queue, and no waiting for a long-polling client to collect
    its CLOSE packet.

    Every session's send queue is a :class:`~audio_service.websocket.lean.LeanQueue`:
    about 2 KiB less per connection than ``asyncio.Queue``, and no task per packet in the
    websocket writer's ``wait_for(queue.get())``.

    python-engineio ends a long-polling session it refuses (a body over the size limit, a
    packet it cannot parse) with ``close(wait=True)``, which waits until the client polls
    again. A client that never does leaves the request hanging, and its coroutine and
    session alive, for good: one leak per request. The CLOSE packet stays queued for a
    client that does come back.
    """

    def create_queue(self, *args: Any, **kwargs: Any) -> LeanQueue[Packet]:
        # engine.io's only queues are the sessions' send queues, made without arguments.
        return LeanQueue()

    async def disconnect(self, sid: str | None = None) -> None:
        socket = self.sockets.get(sid) if sid is not None else None
        if socket is None or socket.upgraded:
            await super().disconnect(sid)
            return
        await socket.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
        self.sockets.pop(sid, None)


class AsyncServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server over the engine.io server above."""

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _EngineIOServer

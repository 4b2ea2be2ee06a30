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

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import engineio
import engineio.async_socket
import engineio.packet
import socketio
import socketio.packet

from audio_service.protocol import ErrorCode, dumps, error_payload
from audio_service.websocket.lean import LeanQueue

logger = logging.getLogger(__name__)

#: The only Socket.IO namespace the service uses.
NAMESPACE = "/"

#: An engine.io packet (python-engineio has no type hints).
Packet = Any


def message_packet(text: str) -> Packet:
    """An engine.io MESSAGE packet carrying Socket.IO packet text (built once per event)."""
    return engineio.packet.Packet(engineio.packet.MESSAGE, data=text)


def _size(pkt: Packet) -> int:
    data = getattr(pkt, "data", None)
    return len(data) if isinstance(data, str | bytes) else 0


class _CountingQueue(LeanQueue[Packet]):
    """An engine.io send queue that knows how many bytes it holds and when it was last
    drained, so that a backlog is bounded in bytes as well as packets, and a consumer
    that stopped taking packets (a long-polling client that no longer polls) is seen."""

    __slots__ = ("bytes", "taken_at")

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.taken_at = time.monotonic()

    def put_nowait(self, item: Packet) -> None:
        self.bytes += _size(item)
        super().put_nowait(item)

    def _pop(self) -> Packet:
        item = super()._pop()
        self.bytes -= _size(item)
        self.taken_at = time.monotonic()
        return item


class Outbox:
    """The send queue of one connected socket's engine.io session.

    The socket's own writer task sends whatever has queued in one go, so queueing never
    waits and the hub never yields per packet.
    """

    __slots__ = ("_queue", "_socket", "backlog", "put")

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        queue = self._queue = socket.queue
        #: Packets queued and not yet written to the transport.
        self.backlog: Callable[[], int] = queue.qsize
        #: Queue a packet; the queue is unbounded, so this is what ``await socket.send``
        #: does, minus a coroutine per recipient.
        self.put: Callable[[Packet], None] = queue.put_nowait

    @property
    def closed(self) -> bool:
        return bool(self._socket.closed)

    def discard(self) -> None:
        """Drop every packet still queued: the socket is being cut off, and its client
        resumes with ``last_seq``. The memory is freed now, however long the client's
        connection takes to close."""
        queue = self._queue
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            queue.task_done()

    def abort(self) -> None:
        """Drop the socket's TCP connection now (websocket transport).

        A Socket.IO disconnect alone leaves a client that does not read connected until
        the websocket's keepalive gives up (30-60 s), holding its kernel buffers. ASGI
        has no abort, so this reaches the server's protocol object behind the ASGI
        ``send`` callable (uvicorn's, which has ``transport``); elsewhere it falls back
        to an ASGI close.
        """
        ws = getattr(self._socket, "websocket", None)
        if ws is None:
            return
        protocol = getattr(getattr(ws, "asgi_send", None), "__self__", None)
        transport = getattr(protocol, "transport", None)
        if transport is not None and hasattr(transport, "abort"):
            transport.abort()
        else:
            asyncio.get_running_loop().create_task(ws.close())

    def same_socket(self, other: Outbox) -> bool:
        return self._socket is other._socket

    def backlog_bytes(self) -> int:
        """Bytes of packet data queued and not yet taken by the socket's writer."""
        return int(getattr(self._queue, "bytes", 0))

    def stalled_for(self) -> float:
        """Seconds since the writer last took a packet while some are waiting (else 0)."""
        if not self._queue.qsize():
            return 0.0
        return time.monotonic() - float(getattr(self._queue, "taken_at", time.monotonic()))


def packet_size(pkt: Packet) -> int:
    """What a packet adds to a backlog's byte count."""
    return _size(pkt)


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


async def close_session(sio: socketio.AsyncServer, sid: str) -> None:
    """Disconnect ``sid`` and end its engine.io session too, without waiting for a client
    that does not read. A Socket.IO disconnect alone leaves the session (and its queue,
    pings and pongs) alive: a long-polling client could keep it with pongs forever."""
    eio_sid = sio.manager.eio_sid_from_sid(sid, NAMESPACE)
    await sio.disconnect(sid)
    if eio_sid is not None:
        await _end_session(sio.eio, eio_sid)


async def _end_session(server: Any, eio_sid: str) -> None:
    """Close an engine.io session at once: no CLOSE packet waited for, transport aborted."""
    socket = server.sockets.get(eio_sid)
    if socket is None:
        return
    Outbox(socket).abort()
    await socket.close(wait=False, abort=True, reason=server.reason.SERVER_DISCONNECT)
    server.sockets.pop(eio_sid, None)


def backlogs(sio: socketio.AsyncServer) -> Iterator[int]:
    """The send-queue depth of every engine.io session of this server (for benchmarks)."""
    for socket in list(sio.eio.sockets.values()):
        yield socket.queue.qsize()


class _Socket(engineio.async_socket.AsyncSocket):  # type: ignore[misc]
    """An engine.io session that remembers its websocket, so that it can be aborted."""

    websocket: Any = None

    async def _websocket_handler(self, ws: Any) -> Any:
        self.websocket = ws
        try:
            return await super()._websocket_handler(ws)
        finally:
            # ws holds the server's protocol object: no cycle that outlives the connection.
            self.websocket = None


class _EngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    """Sessions with a lean send queue, and no waiting for a long-polling client to collect
    its CLOSE packet.

    Every session's send queue is a :class:`~audio_service.websocket.lean.LeanQueue`:
    about 2 KiB less per connection than ``asyncio.Queue``, and no task per packet in the
    websocket writer's ``wait_for(queue.get())``; it also counts its bytes (see
    :class:`_CountingQueue`). Sessions remember their websocket so that a slow consumer's
    connection can be aborted, and past ``max_sessions`` a handshake is refused.

    python-engineio ends a long-polling session it refuses (a body over the size limit, a
    packet it cannot parse) with ``close(wait=True)``, which waits until the client polls
    again. A client that never does leaves the request hanging, and its coroutine and
    session alive, for good: one leak per request. The CLOSE packet stays queued for a
    client that does come back.
    """

    async def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "connect":
            # The session was just made (``_handle_connect``), before any transport use.
            socket = self.sockets.get(args[0])
            if type(socket) is engineio.async_socket.AsyncSocket:
                socket.__class__ = _Socket
        return await super()._trigger_event(event, *args, **kwargs)

    #: Engine.io sessions (websocket and long-polling alike) this process accepts; 0: any.
    max_sessions = 0

    async def _handle_connect(self, environ: Any, transport: str, jsonp_index: Any = None) -> Any:
        if self.max_sessions and len(self.sockets) >= self.max_sessions:
            # A websocket handshake refused this way is closed before it is accepted.
            body = dumps(error_payload(ErrorCode.AT_CAPACITY, "too many connections; retry"))
            return {
                "status": "503 SERVICE UNAVAILABLE",
                "headers": [("Content-Type", "application/json"), ("Retry-After", "5")],
                "response": body.encode(),
            }
        return await super()._handle_connect(environ, transport, jsonp_index)

    def create_queue(self, *args: Any, **kwargs: Any) -> LeanQueue[Packet]:
        # engine.io's only queues are the sessions' send queues, made without arguments.
        return _CountingQueue()

    async def disconnect(self, sid: str | None = None) -> None:
        socket = self.sockets.get(sid) if sid is not None else None
        if socket is None or socket.upgraded:
            await super().disconnect(sid)
            return
        await socket.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
        self.sockets.pop(sid, None)


#: Frames a connection may send that python-socketio cannot decode before it is dropped.
MAX_BAD_FRAMES = 5
#: Stands for an event name that is not a string (``42[[1,2]]``) when it is refused.
NOT_A_NAME = "(not a string)"


class AsyncServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server over the engine.io server above, hardened against frames
    it cannot decode.

    python-socketio raised from its message handler on an undecodable frame, and
    python-engineio logged about 1 KB of traceback for each (300 two-byte frames in 40 ms)
    while the connection stayed open; an event named by a list raised TypeError before
    any handler could answer. Here a bad frame is logged once per connection, charged to
    the socket's budget through :attr:`on_bad_frame`, and the connection is dropped after
    :data:`MAX_BAD_FRAMES`; an event whose name is not a string reaches the catch-all
    handler under :data:`NOT_A_NAME`, which refuses it with an error ack.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bad_frames: dict[str, int] = {}
        #: Called with the socket's sid (None before the namespace connect) on each bad
        #: frame; False drops the connection at once (its budget is spent).
        self.on_bad_frame: Callable[[str | None], bool] = lambda sid: True

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _EngineIOServer

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if eio_sid not in self.eio.sockets:
            return  # a frame still in flight from a session this server ended
        if eio_sid not in self._binary_packet:
            try:
                pkt = self.packet_class(encoded_packet=data)
            except Exception:
                await self._bad_frame(eio_sid, data)
                return
            if pkt.packet_type == socketio.packet.EVENT and not _named(pkt.data):
                await self._handle_event(eio_sid, pkt.namespace, pkt.id, _renamed(pkt.data))
                return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception:
            await self._bad_frame(eio_sid, data)

    async def _bad_frame(self, eio_sid: str, data: Any) -> None:
        count = self._bad_frames.get(eio_sid, 0) + 1
        self._bad_frames[eio_sid] = count
        if count == 1:
            logger.warning(
                "engine.io session %s sent a frame that is not Socket.IO (%d bytes); "
                "later ones are not logged",
                eio_sid,
                len(data) if isinstance(data, str | bytes) else 0,
            )
        within_budget = self.on_bad_frame(self.manager.sid_from_eio_sid(eio_sid, NAMESPACE))
        if count >= MAX_BAD_FRAMES or not within_budget:
            await _end_session(self.eio, eio_sid)

    async def _handle_eio_disconnect(self, eio_sid: str, *args: Any) -> None:
        self._bad_frames.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, *args)


def _named(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], str)


def _renamed(data: Any) -> list[Any]:
    return [NOT_A_NAME, *(data[1:] if isinstance(data, list) else [])]

"""Leaner per-connection state than the stack's defaults: idle sockets are most sockets.

Of the ~40 KiB an idle Socket.IO connection cost (tracemalloc, see docs/BENCHMARKS.md),
two ``asyncio.Queue`` objects (engine.io's send queue, uvicorn's receive queue) took about
3 KiB each, four 600-byte deques apiece, and uvicorn kept the handshake's request and
response, headers and all, for the life of the connection although it never reads them
again. :class:`LeanQueue` and :class:`LeanWebSocketProtocol` drop that; engine.io gets its
queue from ``engineio_adapter``, uvicorn its protocol from ``audio-service serve``
(``--ws audio_service.websocket.lean:LeanWebSocketProtocol`` on uvicorn's command line).
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

T = TypeVar("T")

#: Frames kept for reuse, and the largest one kept (a ``complete`` analysis is not).
_FRAME_CACHE_SIZE = 64
_FRAME_CACHE_MAX_BYTES = 16 * 1024
#: id(text) -> (text, its websocket frame); the text is kept so that its id stays its own.
_frames: dict[int, tuple[str, bytes]] = {}


def text_frame(text: str) -> bytes:
    """The unmasked, uncompressed websocket frame of one text message (RFC 6455, 5.2).

    The hub fans each event out as one packet object, whose encoded text engine.io caches,
    so every recipient's writer sends the same ``str``: its frame is built once per event
    and node, as Node's Socket.IO does, instead of once per recipient.
    """
    hit = _frames.get(id(text))
    if hit is not None and hit[0] is text:
        return hit[1]
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 1 << 16:
        head = b"\x81\x7e" + size.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + size.to_bytes(8, "big")
    frame = head + payload
    if size <= _FRAME_CACHE_MAX_BYTES:
        if len(_frames) >= _FRAME_CACHE_SIZE:
            del _frames[next(iter(_frames))]  # the oldest
        _frames[id(text)] = (text, frame)
    return frame


class LeanQueue(Generic[T]):
    """The part of ``asyncio.Queue`` that engine.io and uvicorn use, in a tenth of its
    memory: lists rather than deques (an empty deque takes 600 bytes, an empty list 56), as
    these queues hold a few items at a time. Unbounded, as both of the queues it replaces
    are, so ``put`` never waits.

    ``get()`` returns a future rather than a coroutine, so engine.io's writer, which waits
    for every packet with ``asyncio.wait_for(queue.get(), ...)``, needs no task per wait.
    As with ``asyncio.Queue``, a put item counts in ``qsize()`` until the event loop runs
    (a callback then hands it to the waiting getter), so code that puts and then reads the
    depth without an await in between (the hub's slow-consumer check) sees every item.
    """

    __slots__ = ("_getters", "_items", "_joiners", "_serving", "_unfinished")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._getters: list[asyncio.Future[T]] = []
        self._joiners: list[asyncio.Future[None]] = []
        #: Items put and not yet marked done (``join`` waits for none).
        self._unfinished = 0
        #: A callback to serve the waiting getters is scheduled.
        self._serving = False

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: T) -> None:
        self._unfinished += 1
        self._items.append(item)
        if self._getters and not self._serving:
            self._serving = True
            self._getters[0].get_loop().call_soon(self._serve)

    def _serve(self) -> None:
        self._serving = False
        while self._getters and self._items:
            getter = self._getters.pop(0)
            if not getter.done():  # a getter that timed out is skipped
                getter.set_result(self._pop())

    async def put(self, item: T) -> None:
        self.put_nowait(item)

    def _pop(self) -> T:
        """Every item leaves through here (a subclass may count what leaves)."""
        return self._items.pop(0)

    def get_nowait(self) -> T:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._pop()

    def get(self) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        # Getters that timed out are dropped; those still waiting are served first.
        self._getters = [getter for getter in self._getters if not getter.done()]
        if self._items and not self._getters:
            future.set_result(self._pop())
            return future
        self._getters.append(future)
        if self._items and not self._serving:
            self._serving = True
            loop.call_soon(self._serve)
        return future

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if not self._unfinished:
            joiners, self._joiners = self._joiners, []
            for joiner in joiners:
                if not joiner.done():
                    joiner.set_result(None)

    async def join(self) -> None:
        if self._unfinished:
            joiner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._joiners.append(joiner)
            await joiner


class _LeanEvent(asyncio.Event):
    """``asyncio.Event`` with its waiters in a list: it has one waiter at most, if any."""

    def __init__(self) -> None:
        super().__init__()
        self._waiters: list[asyncio.Future[bool]] = []  # type: ignore[assignment]


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets sans-I/O protocol, minus what it keeps and never reads again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = _LeanEvent()
        self.writable.set()

    async def send(self, message: Any) -> None:
        """Text messages on an open connection go out as one cached frame (see
        :func:`text_frame`); everything else (the handshake, binary data, closing, any
        extension such as per-message deflate) takes uvicorn's way."""
        text = message.get("text") if message["type"] == "websocket.send" else None
        if text is None or not self._open():
            await super().send(message)
            return
        if not self.writable.is_set():
            await self.writable.wait()  # the transport's buffer is full: flow control
            if not self._open():  # closed meanwhile: uvicorn's way says how
                await super().send(message)
                return
        if self.disconnected:
            raise ClientDisconnected()
        self.transport.write(text_frame(text))

    def _open(self) -> bool:
        return (
            self.handshake_complete
            and not self.close_sent
            and self.conn.state is State.OPEN
            and not self.conn.extensions
        )

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # The scope now holds what the app needs of the request. uvicorn never reads the
        # request again, but websockets' parser keeps it as a local for the life of the
        # connection: empty its headers, the bulk of it.
        self.request = None  # type: ignore[assignment]
        event.headers.clear()

    def start_keepalive(self) -> None:
        # Called once, when the app has accepted and the handshake response has gone out:
        # the response's last use, and the app has read the request headers by now (engine.io
        # copies them into its environ when the connection opens).
        self.response = None  # type: ignore[assignment]
        self.scope["headers"] = []
        super().start_keepalive()

"""The Socket.IO server: connection lifecycle and the ``subscribe``/``unsubscribe`` events.

Every handler validates its payload, answers through the acknowledgement when the client
asked for one, and reports failures as an ``error`` event; none of them can raise into
python-socketio, so a bad payload never costs a client its connection.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import engineio
import socketio

from audio_service.backends.base import Backend
from audio_service.config import Settings
from audio_service.errors import BackendUnavailable
from audio_service.metrics import Metrics
from audio_service.origins import OriginPolicy
from audio_service.protocol import (
    ConnectedMessage,
    ErrorCode,
    MessageType,
    PayloadError,
    error_ack,
    error_payload,
    ok_ack,
    parse_subscribe,
    subscribed_payload,
)
from audio_service.websocket.hub import NAMESPACE, Hub

logger = logging.getLogger(__name__)

#: The largest legitimate client message is a subscribe payload; 64 KiB leaves ample room
#: while keeping a hostile client from making the server buffer megabytes.
MAX_CLIENT_MESSAGE_BYTES = 64 * 1024


class _EngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    """Never waits for a long-polling client to collect its CLOSE packet.

    python-engineio ends a long-polling session it refuses (a body over the size limit, a
    packet it cannot parse) with ``close(wait=True)``, which waits until the client polls
    again. A client that never does leaves the request hanging, and its coroutine and
    session alive, for good: one leak per request. The CLOSE packet stays queued for a
    client that does come back.
    """

    async def disconnect(self, sid: str | None = None) -> None:
        socket = self.sockets.get(sid) if sid is not None else None
        if socket is None or socket.upgraded:
            await super().disconnect(sid)
            return
        await socket.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
        self.sockets.pop(sid, None)


class _AsyncServer(socketio.AsyncServer):  # type: ignore[misc]
    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _EngineIOServer


def create_sio(settings: Settings) -> socketio.AsyncServer:
    return _AsyncServer(
        async_mode="asgi",
        # The same allow-list as the REST API; engine.io checks it on polling and websocket.
        cors_allowed_origins=OriginPolicy(
            settings.allowed_origins, allow_own=settings.allow_own_origin
        ).engineio_check,
        cors_credentials=True,
        # Accept the connection before the connect handler runs, so that ``connected``
        # can be sent from it (emitting before acceptance is lost).
        always_connect=True,
        logger=False,
        engineio_logger=False,
        max_http_buffer_size=MAX_CLIENT_MESSAGE_BYTES,
        # Small JSON events: compression costs more CPU than it saves (see BENCHMARKS.md).
        http_compression=False,
    )


class _TokenBucket:
    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class SocketHandlers:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        hub: Hub,
        backend: Backend,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.sio = sio
        self.metrics = metrics
        metrics.track(metrics.sockets, lambda: len(self.buckets))
        self.hub = hub
        self.backend = backend
        self.settings = settings
        self.buckets: dict[str, _TokenBucket] = {}
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.on("subscribe", self.subscribe)
        sio.on("unsubscribe", self.unsubscribe)
        sio.on("*", self.unknown)

    # python-socketio dispatches a client's *event* named "connect" or "disconnect" to these
    # same handlers. Unanswered, that would reset the socket's token bucket or forget it
    # (no more rate limit) while the socket stays connected; such events are refused as
    # unknown ones instead.

    async def connect(self, sid: str, *args: Any) -> Any:
        if sid in self.buckets:
            return await self.unknown("connect", sid)
        self.buckets[sid] = _TokenBucket(self.settings.socket_events_per_second)
        await self.sio.emit(MessageType.CONNECTED.value, ConnectedMessage().to_dict(), to=sid)
        return None

    async def disconnect(self, sid: str, *args: Any) -> Any:
        # During a real disconnect python-socketio no longer counts the socket as connected.
        if self.sio.manager.is_connected(sid, NAMESPACE):
            return await self.unknown("disconnect", sid)
        self.buckets.pop(sid, None)
        self.hub.drop_socket(sid)
        return None

    async def _refuse(
        self, sid: str, code: ErrorCode, message: str, job_id: str | None = None
    ) -> dict[str, Any]:
        payload = error_payload(code, message, job_id)
        await self.sio.emit(MessageType.ERROR.value, payload, to=sid)
        return error_ack(code, message, job_id)

    def _rate_ok(self, sid: str) -> bool:
        bucket = self.buckets.get(sid)
        if bucket is None or bucket.take():
            return True
        self.metrics.rate_limited.labels("socket").inc()
        return False

    async def subscribe(self, sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
        if not self._rate_ok(sid):
            return await self._refuse(sid, ErrorCode.RATE_LIMITED, "too many events, slow down")
        try:
            request = parse_subscribe(data)
        except PayloadError as exc:
            return await self._refuse(sid, exc.code, exc.message)
        already = request.job_id in self.hub.sockets.get(sid, {})
        if not already and self.hub.subscription_count(sid) >= (
            self.settings.max_subscriptions_per_socket
        ):
            return await self._refuse(
                sid,
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"at most {self.settings.max_subscriptions_per_socket} jobs per connection",
                request.job_id,
            )
        try:
            job = await self.backend.jobs.get(request.job_id)
            head = await self.backend.events.last_seq(request.job_id) if job else 0
        except Exception as exc:
            logger.warning("subscribe: back-end unavailable: %s", exc)
            error = BackendUnavailable("the job store is unavailable, retry shortly")
            return await self._refuse(
                sid, ErrorCode.BACKEND_UNAVAILABLE, error.message, request.job_id
            )
        if job is None:
            # Unknown, expired or malformed ids all get the same answer.
            return await self._refuse(sid, ErrorCode.JOB_NOT_FOUND, "no such job", request.job_id)
        status = job.status.value
        await self.sio.emit(
            MessageType.SUBSCRIBED.value,
            subscribed_payload(job.job_id, status, job.progress, head, job.duration),
            to=sid,
        )
        await self.hub.subscribe(sid, job.job_id, after=request.last_seq or 0, head=head)
        return ok_ack(job.job_id, status, head)

    async def unsubscribe(self, sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
        if not self._rate_ok(sid):
            return await self._refuse(sid, ErrorCode.RATE_LIMITED, "too many events, slow down")
        try:
            request = parse_subscribe(data)
        except PayloadError as exc:
            return await self._refuse(sid, exc.code, exc.message)
        self.hub.unsubscribe(sid, request.job_id)
        try:
            job = await self.backend.jobs.get(request.job_id)
            head = await self.backend.events.last_seq(request.job_id) if job else 0
        except Exception:
            return await self._refuse(
                sid, ErrorCode.BACKEND_UNAVAILABLE, "the job store is unavailable", request.job_id
            )
        if job is None:
            return await self._refuse(sid, ErrorCode.JOB_NOT_FOUND, "no such job", request.job_id)
        return ok_ack(job.job_id, job.status.value, head)

    async def unknown(self, event: str, sid: str, *_: Any) -> dict[str, Any]:
        if not self._rate_ok(sid):
            return await self._refuse(sid, ErrorCode.RATE_LIMITED, "too many events, slow down")
        name = event if len(event) <= 64 else event[:64] + "..."
        return await self._refuse(sid, ErrorCode.UNKNOWN_EVENT, f"unknown event {name!r}")

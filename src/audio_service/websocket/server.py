"""The Socket.IO server: connection lifecycle and the ``subscribe``/``unsubscribe`` events.

Every handler validates its payload, answers through the acknowledgement when the client
asked for one, and reports failures as an ``error`` event; none of them can raise into
python-socketio, so a bad payload never costs a client its connection.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import socketio

from audio_service.backends.base import Backend
from audio_service.config import Settings
from audio_service.metrics import Metrics
from audio_service.models import JobRecord
from audio_service.origins import OriginPolicy
from audio_service.protocol import (
    Ack,
    ConnectedMessage,
    ErrorAck,
    ErrorCode,
    MessageType,
    PayloadError,
    SubscribeRequest,
    error_ack,
    error_payload,
    ok_ack,
    parse_subscribe,
    subscribed_payload,
)
from audio_service.websocket import engineio_adapter as eio
from audio_service.websocket.hub import Hub

logger = logging.getLogger(__name__)

#: The largest legitimate client message is a subscribe payload; 64 KiB leaves ample room
#: while keeping a hostile client from making the server buffer megabytes.
MAX_CLIENT_MESSAGE_BYTES = 64 * 1024


def create_sio(settings: Settings) -> socketio.AsyncServer:
    sio = eio.AsyncServer(
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
    sio.eio.max_sessions = settings.max_connections
    return sio


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
        if isinstance(sio, eio.AsyncServer):
            # A frame that cannot be decoded costs a token like any event.
            sio.on_bad_frame = lambda sid: sid is None or self._rate_ok(sid)

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
        if eio.is_connected(self.sio, sid):
            return await self.unknown("disconnect", sid)
        self.buckets.pop(sid, None)
        self.hub.drop_socket(sid)
        return None

    async def _refuse(
        self, sid: str, code: ErrorCode, message: str, job_id: str | None = None
    ) -> ErrorAck:
        payload = error_payload(code, message, job_id)
        await self.sio.emit(MessageType.ERROR.value, payload, to=sid)
        return error_ack(code, message, job_id)

    def _rate_ok(self, sid: str) -> bool:
        bucket = self.buckets.get(sid)
        if bucket is None or bucket.take():
            return True
        self.metrics.rate_limited.labels("socket").inc()
        return False

    async def _request(self, sid: str, data: Any) -> SubscribeRequest | ErrorAck:
        """What ``subscribe`` and ``unsubscribe`` open with: the rate limit, then the payload."""
        if not self._rate_ok(sid):
            return await self._refuse(sid, ErrorCode.RATE_LIMITED, "too many events, slow down")
        try:
            return parse_subscribe(data)
        except PayloadError as exc:
            return await self._refuse(sid, exc.code, exc.message)

    async def _find(self, sid: str, job_id: str) -> tuple[JobRecord, int] | ErrorAck:
        """The job and its latest seq, or the refusal already sent to the socket."""
        try:
            job = await self.backend.jobs.get(job_id)
            head = await self.backend.events.last_seq(job_id) if job else 0
        except Exception as exc:
            logger.warning("back-end unavailable: %s", exc)
            return await self._refuse(
                sid,
                ErrorCode.BACKEND_UNAVAILABLE,
                "the job store is unavailable, retry shortly",
                job_id,
            )
        if job is None:
            # Unknown, expired or malformed ids all get the same answer.
            return await self._refuse(sid, ErrorCode.JOB_NOT_FOUND, "no such job", job_id)
        return job, head

    async def subscribe(self, sid: str, data: Any = None, *_: Any) -> Ack:
        request = await self._request(sid, data)
        if not isinstance(request, SubscribeRequest):
            return request
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
        found = await self._find(sid, request.job_id)
        if not isinstance(found, tuple):
            return found
        job, head = found
        after = request.last_seq or 0
        if (request.epoch is not None and request.epoch != job.epoch) or after > head:
            # The client holds seqs of a log that is no longer there (lost and created
            # again, or rewound): replaying this one would hand it reused seqs.
            return await self._refuse(
                sid,
                ErrorCode.JOB_LOST,
                "the job's events were lost since you received them; submit it again",
                job.job_id,
            )
        status = job.status.value
        await self.sio.emit(
            MessageType.SUBSCRIBED.value,
            subscribed_payload(job.job_id, status, job.progress, head, job.duration, job.epoch),
            to=sid,
        )
        await self.hub.subscribe(sid, job.job_id, after=after, head=head, epoch=job.epoch)
        return ok_ack(job.job_id, status, head, job.epoch)

    async def unsubscribe(self, sid: str, data: Any = None, *_: Any) -> Ack:
        request = await self._request(sid, data)
        if not isinstance(request, SubscribeRequest):
            return request
        self.hub.unsubscribe(sid, request.job_id)
        found = await self._find(sid, request.job_id)
        if not isinstance(found, tuple):
            return found
        job, head = found
        return ok_ack(job.job_id, job.status.value, head, job.epoch)

    async def unknown(self, event: str, sid: str, *_: Any) -> ErrorAck:
        if not self._rate_ok(sid):
            return await self._refuse(sid, ErrorCode.RATE_LIMITED, "too many events, slow down")
        name = event if len(event) <= 64 else event[:64] + "..."
        return await self._refuse(sid, ErrorCode.UNKNOWN_EVENT, f"unknown event {name!r}")

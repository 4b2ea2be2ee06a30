"""A Python client for the service: submit a file or URL, then follow the job's stream.

::

    async with AudioServiceClient("http://127.0.0.1:8000") as client:
        job = await client.submit_file("song.wav")
        async for event in client.stream(job["job_id"]):
            print(event["type"], event["seq"])

Each followed job remembers the last seq it delivered (and the log's epoch once the server
states one). python-socketio reconnects after any drop; the client then subscribes again
from there, so ``stream`` yields every event exactly once, in seq order, and ends after
``complete`` or ``error``. Needs aiohttp: ``pip install 'audio-service[client]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import socketio

from audio_service.protocol import TERMINAL_EVENTS, ErrorCode, MessageType

try:
    import aiohttp
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "audio_service.client needs aiohttp: pip install 'audio-service[client]'"
    ) from exc

#: A job event as the server sends it: ``type``, ``job_id``, ``seq`` and its own fields.
JobEvent = dict[str, Any]

_JOB_EVENTS = (
    MessageType.PROGRESS.value,
    MessageType.CHUNK.value,
    MessageType.COMPLETE.value,
    MessageType.ERROR.value,
)
#: Refusals worth another try after a pause, rather than the end of the stream.
_RETRYABLE = frozenset({ErrorCode.BACKEND_UNAVAILABLE.value, ErrorCode.RATE_LIMITED.value})
_RETRY_SECONDS = 1.0
_CALL_TIMEOUT = 10.0
_REST_TIMEOUT = aiohttp.ClientTimeout(total=300)


class StreamError(Exception):
    """The service refused to stream a job (``code`` is the wire error code)."""

    def __init__(self, code: str, message: str, job_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.job_id = job_id


@dataclass
class ResumeState:
    """Where one job's stream stands: exactly what a resume sends."""

    job_id: str
    last_seq: int = 0
    epoch: Any = None
    duration: float | None = None
    queue: asyncio.Queue[JobEvent | StreamError] = field(default_factory=asyncio.Queue)
    done: bool = False

    def subscribe_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"job_id": self.job_id}
        if self.last_seq:
            payload["last_seq"] = self.last_seq
        if self.epoch is not None:
            payload["epoch"] = self.epoch
        return payload


class AudioServiceClient:
    """REST submission plus a resuming Socket.IO stream, over one connection.

    Parameters
    ----------
    url : str
        The service, e.g. ``"http://127.0.0.1:8000"``.
    transports : list of str, optional
        Engine.IO transports (default websocket only).
    reconnection_delay : float
        First pause before reconnecting after a drop, seconds (python-socketio doubles it
        up to 5 s).
    """

    def __init__(
        self,
        url: str,
        *,
        transports: list[str] | None = None,
        reconnection_delay: float = 0.5,
    ) -> None:
        self.url = url.rstrip("/")
        self.transports = transports or ["websocket"]
        self.reconnection_delay = reconnection_delay
        self.follows: dict[str, ResumeState] = {}
        #: How many times the socket connected (1 + reconnects), for the curious.
        self.connections = 0
        self._sio: socketio.AsyncClient | None = None
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connecting = asyncio.Lock()

    @property
    def sio(self) -> socketio.AsyncClient:
        """The python-socketio client (created by the first :meth:`stream`)."""
        if self._sio is None:
            raise RuntimeError("not connected yet: call stream() first")
        return self._sio

    async def _connect(self) -> None:
        # One aiohttp session of ours for REST and every (re)connection: python-engineio
        # would otherwise open one per connection and, after a transport drop, can leave
        # one unclosed.
        sio = socketio.AsyncClient(
            reconnection=True,
            reconnection_attempts=0,
            reconnection_delay=self.reconnection_delay,
            reconnection_delay_max=5,
            http_session=await self._session(),
        )
        sio.on("connect", self._on_connect)
        sio.on("subscribed", self._on_subscribed)
        for name in _JOB_EVENTS:
            sio.on(name, self._receiver(name))
        self._sio = sio
        await sio.connect(self.url, transports=self.transports, wait_timeout=10)

    async def __aenter__(self) -> AudioServiceClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def submit_file(self, path: str | Path) -> dict[str, Any]:
        """Upload an audio file; returns ``{job_id, video_id, status, websocket_url}``."""
        path = Path(path)
        form = aiohttp.FormData()
        with open(path, "rb") as fh:
            form.add_field("file", fh, filename=path.name)
            return await self._post(data=form)

    async def submit_url(self, media_url: str) -> dict[str, Any]:
        """Submit a media URL (a page yt-dlp knows, or a direct audio file link)."""
        return await self._post(json={"url": media_url})

    async def status(self, job_id: str) -> dict[str, Any]:
        return await self._get(f"/api/jobs/{job_id}")

    async def analysis(self, job_id: str) -> dict[str, Any]:
        return await self._get(f"/api/jobs/{job_id}/analysis")

    async def stream(self, job_id: str) -> AsyncIterator[JobEvent]:
        """Every event of the job from the first, exactly once and in order, until it ends.

        Raises
        ------
        StreamError
            The service refused the job (``JOB_NOT_FOUND``, say).
        """
        if job_id in self.follows:
            raise ValueError(f"job {job_id} is already being streamed")
        follow = ResumeState(job_id)
        self.follows[job_id] = follow
        try:
            async with self._connecting:
                if self._online():
                    self._spawn(self._subscribe(follow))
                elif self._sio is None:
                    # The connect handler subscribes every followed job, this one included.
                    await self._connect()
                # else: python-socketio is reconnecting, and will subscribe it then.
            while True:
                item = await follow.queue.get()
                if isinstance(item, StreamError):
                    raise item
                yield item
                if item["type"] in TERMINAL_EVENTS:
                    return
        finally:
            follow.done = True
            self.follows.pop(job_id, None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._sio is not None:
            with contextlib.suppress(Exception):
                await self._sio.disconnect()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _spawn(self, coroutine: Any) -> None:
        # Handlers run inside python-socketio's read loop: an ack awaited there would never
        # arrive, so subscribing happens in a task of its own.
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _online(self) -> bool:
        # python-socketio sets ``connected`` only once connect() returns, after the connect
        # handler ran; the namespace is registered before that handler.
        return self._sio is not None and "/" in self._sio.namespaces

    async def _on_connect(self) -> None:
        self.connections += 1
        for follow in list(self.follows.values()):
            self._spawn(self._subscribe(follow))

    async def _subscribe(self, follow: ResumeState) -> None:
        while not follow.done and self._online():
            try:
                ack = await self.sio.call(
                    "subscribe", follow.subscribe_payload(), timeout=_CALL_TIMEOUT
                )
            except socketio.exceptions.TimeoutError:
                continue  # no answer in time: ask again (the loop ends if the socket dropped)
            except socketio.exceptions.BadNamespaceError:
                return  # the connection dropped meanwhile: the next connect resubscribes
            if not isinstance(ack, dict) or ack.get("ok"):
                if isinstance(ack, dict) and ack.get("epoch") is not None:
                    follow.epoch = ack["epoch"]
                return
            code = str(ack.get("code"))
            if code not in _RETRYABLE:
                follow.queue.put_nowait(StreamError(code, str(ack.get("message")), follow.job_id))
                return
            await asyncio.sleep(_RETRY_SECONDS)

    async def _on_subscribed(self, data: Any) -> None:
        follow = self.follows.get(str(data.get("job_id"))) if isinstance(data, dict) else None
        if follow is None:
            return
        if data.get("epoch") is not None:
            follow.epoch = data["epoch"]
        if isinstance(data.get("duration"), int | float):
            follow.duration = float(data["duration"])

    def _receiver(self, name: str) -> Any:
        async def receive(data: Any) -> None:
            # Job events carry a seq; an error without one answers a request (see the ack).
            if not isinstance(data, dict) or not isinstance(data.get("seq"), int):
                return
            follow = self.follows.get(data.get("job_id", ""))
            if follow is None or follow.done:
                return
            seq = data["seq"]
            if seq <= follow.last_seq:
                return  # delivered already
            if seq != follow.last_seq + 1:
                # Never expected from the server; ask again from the last delivered event.
                self._spawn(self._resubscribe(follow))
                return
            follow.last_seq = seq
            follow.queue.put_nowait(data)

        return receive

    async def _resubscribe(self, follow: ResumeState) -> None:
        with contextlib.suppress(socketio.exceptions.TimeoutError):
            await self.sio.call("unsubscribe", {"job_id": follow.job_id}, timeout=_CALL_TIMEOUT)
        await self._subscribe(follow)

    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            # No session-wide total: the websocket lives as long as the streams it carries.
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=30))
        return self._http

    async def _post(self, **body: Any) -> dict[str, Any]:
        http = await self._session()
        async with http.post(f"{self.url}/api/analyze", timeout=_REST_TIMEOUT, **body) as response:
            return await _json(response)

    async def _get(self, path: str) -> dict[str, Any]:
        http = await self._session()
        async with http.get(self.url + path, timeout=_REST_TIMEOUT) as response:
            return await _json(response)


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    body: dict[str, Any] = await response.json(content_type=None)
    if response.status >= 400:
        raise StreamError(str(body.get("code", response.status)), str(body.get("error", "")))
    return body

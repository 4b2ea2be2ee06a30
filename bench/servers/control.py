"""What the two benchmark servers share: synthetic chunks, the publishers and a control API.

Each server (ours, bare python-socketio) implements :class:`Target`; everything else (the
chunk payloads, the pacing, the flow control, the ``/_bench/*`` control routes that the
orchestrator calls) is this one module, so both are driven identically. The control routes
exist only in these benchmark processes, never in the service's own app.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

import socketio
import uvicorn

from audio_service.analysis.indices import REGIONS
from audio_service.analysis.spectral import BANDS
from audio_service.websocket.engineio_adapter import backlogs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Checked every this many published events: keeps the publisher at most about one check
#: interval ahead of the slowest socket, the same for both servers.
FLOW_EVERY = 16
#: Packets that may wait per socket (and events not yet fanned out) before the publisher
#: pauses; well under the service's slow-consumer bound.
FLOW_LIMIT = 128


class Target(Protocol):
    sio: socketio.AsyncServer

    async def new_job(self) -> str: ...

    async def publish_chunk(self, job_id: str, index: int, segment: dict[str, Any]) -> None: ...

    async def publish_complete(self, job_id: str, analysis: dict[str, Any]) -> None: ...

    def lag(self) -> int:
        """Events published but not yet queued on the sockets (0 when emit queues at once)."""
        ...


def synthetic_segment(rng: random.Random, index: int) -> dict[str, Any]:
    """A chunk segment shaped like the analysis' (about 600 bytes of JSON with its envelope)."""

    def unit() -> float:
        return round(rng.random(), 4)

    waves = [rng.random() for _ in range(5)]
    total = sum(waves)
    return {
        "start_time": float(index),
        "end_time": float(index + 1),
        "frequencies": {band: unit() for band in BANDS},
        "loudness_db": round(-60 * rng.random(), 2),
        "spectral_centroid": round(4000 * rng.random(), 1),
        "onset_strength": unit(),
        "tempo": round(60 + 120 * rng.random(), 1),
        "tempo_confidence": unit(),
        "brain_regions": {region: unit() for region in REGIONS},
        "brainwaves": {
            name: round(w / total, 4)
            for name, w in zip(("delta", "theta", "alpha", "beta", "gamma"), waves, strict=True)
        },
        "emotion": {
            "primary": rng.choice(("calm", "happy", "energetic", "tense")),
            "confidence": unit(),
            "valence": unit(),
            "arousal": unit(),
        },
    }


def segment_pool(size: int = 64) -> list[dict[str, Any]]:
    """Seeded segments to cycle through: building one per event would cost more than ours."""
    rng = random.Random(7)
    return [synthetic_segment(rng, i) for i in range(size)]


class Publisher:
    """Publishes synthetic chunks through a :class:`Target`; ``t`` carries the publish time."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.pool = segment_pool()

    def segment(self, index: int) -> dict[str, Any]:
        # The server's wall clock at publish time: clients on this machine subtract it.
        return {**self.pool[index % len(self.pool)], "t": time.time()}

    def backlog(self) -> int:
        return max(backlogs(self.target.sio), default=0) + self.target.lag()

    async def burst(self, job_id: str, count: int) -> float:
        """Publish ``count`` chunks as fast as the slowest subscriber takes them.

        Returns the wall-clock time of the first publish.
        """
        start = time.time()
        for index in range(count):
            await self.target.publish_chunk(job_id, index, self.segment(index))
            if index % FLOW_EVERY == FLOW_EVERY - 1:
                while self.backlog() > FLOW_LIMIT:
                    await asyncio.sleep(0.001)
        return start

    async def paced(self, job_ids: list[str], rate: float, seconds: float) -> int:
        """Every job gets ``rate`` chunks per second for ``seconds``, at staggered phases."""
        count = round(rate * seconds)

        async def one(job_id: str, phase: float) -> None:
            loop = asyncio.get_running_loop()
            begin = loop.time() + phase / rate
            for index in range(count):
                await asyncio.sleep(max(0.0, begin + index / rate - loop.time()))
                await self.target.publish_chunk(job_id, index, self.segment(index))

        phases = [i / len(job_ids) for i in range(len(job_ids))]
        await asyncio.gather(*(one(job, phase) for job, phase in zip(job_ids, phases, strict=True)))
        return count * len(job_ids)

    async def finished_job(self, chunks: int) -> str:
        job_id = await self.target.new_job()
        for index in range(chunks):
            await self.target.publish_chunk(job_id, index, self.segment(index))
        await self.target.publish_complete(job_id, {"duration": float(chunks), "tempo": 120.0})
        return job_id


def with_control(app: ASGIApp, publisher: Publisher) -> ASGIApp:
    """``app`` plus ``POST /_bench/<command>`` routes answering JSON (see ``_command``)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/_bench/"):
            await app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reply = await _command(publisher, scope["path"].removeprefix("/_bench/"), body)
        data = json.dumps(reply).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    return wrapped


async def _command(publisher: Publisher, name: str, body: bytes) -> dict[str, Any]:
    args = json.loads(body or b"{}")
    if name == "job":
        return {"job_id": await publisher.target.new_job()}
    if name == "burst":
        return {"start": await publisher.burst(args["job_id"], args["count"])}
    if name == "paced":
        return {"published": await publisher.paced(args["jobs"], args["rate"], args["seconds"])}
    if name == "finished-job":
        return {"job_id": await publisher.finished_job(args["chunks"])}
    if name == "gc":
        gc.collect()
        return {}
    if name == "ping":
        return {}
    raise ValueError(f"unknown bench command {name!r}")


def serve(app: ASGIApp, port: int, *, deflate: bool = False, ws: Any = "auto") -> None:
    """Both servers run under the uvicorn settings of ``audio-service serve``.

    ``deflate`` turns per-message compression back on, to measure what it costs; ``ws`` is
    uvicorn's websocket protocol (ours passes the service's, bare keeps uvicorn's own).
    """
    uvicorn.run(
        app,
        ws=ws,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_per_message_deflate=deflate,
        ws_max_size=64 * 1024,
        proxy_headers=False,
        backlog=8192,
    )

"""The service under test: ``audio_service.main.create_app()`` on the embedded back-end.

Synthetic chunks enter exactly where the job runner's do, ``service.jobs.publish()``, from a
task inside this process; the benchmark adds no route to the service's own app (the
``/_bench/*`` control routes wrap it in this process only).
Run by ``bench/bench_fanout.py``:  python -m bench.servers.ours PORT [--deflate]
"""

from __future__ import annotations

import sys
import tempfile
from typing import Any

from bench.servers.control import Publisher, serve, with_control

from audio_service.config import Settings
from audio_service.main import Service, create_app
from audio_service.models import JobRecord, SourceKind, new_job_id
from audio_service.protocol import ChunkMessage, CompleteMessage
from audio_service.websocket.lean import LeanWebSocketProtocol


class OurServer:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.sio = service.sio
        #: The last seq published per job, to tell how far the hub's fan-out lags.
        self.published: dict[str, int] = {}

    async def new_job(self) -> str:
        # A record without a queue entry: no analysis runs, the bench publishes instead.
        job = JobRecord(job_id=new_job_id(), source_kind=SourceKind.URL, source="bench:")
        await self.service.backend.jobs.create(job)
        return job.job_id

    async def publish_chunk(self, job_id: str, index: int, segment: dict[str, Any]) -> None:
        seq = await self.service.jobs.publish(job_id, ChunkMessage(float(index), segment))
        self.published[job_id] = seq or 0

    async def publish_complete(self, job_id: str, analysis: dict[str, Any]) -> None:
        await self.service.jobs.publish(job_id, CompleteMessage(analysis))

    def lag(self) -> int:
        feeds = self.service.hub.feeds
        return max(
            (self.published.get(job_id, 0) - feed.position for job_id, feed in feeds.items()),
            default=0,
        )


def main() -> None:
    settings = Settings(
        _env_file=None,
        temp_dir=tempfile.mkdtemp(prefix="bench-fanout-"),
        log_level="WARNING",
        enable_docs=False,
    )
    app = create_app(settings)
    server = OurServer(app.service)
    serve(
        with_control(app, Publisher(server)),
        int(sys.argv[1]),
        deflate="--deflate" in sys.argv,
        ws=LeanWebSocketProtocol,
    )


if __name__ == "__main__":
    main()

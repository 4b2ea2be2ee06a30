"""The job runner: takes jobs from the queue and supervises the analysis processes.

A runner takes jobs from the back-end's queue and runs each in a child process forked
from a pre-warmed forkserver (so librosa and numba are imported once, not per job). It
relays what the child reports to :meth:`JobService.publish`, the one write path, which
appends it to the job's log; delivery to sockets happens elsewhere, from that log. The
API process runs a runner in embedded mode; ``audio-service worker`` runs one in cluster
mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from audio_service.backends.base import Claim
from audio_service.config import Settings
from audio_service.jobs.process import JobSpec, run_job
from audio_service.jobs.service import JobService
from audio_service.models import JobRecord, SourceKind
from audio_service.protocol import (
    TERMINAL_EVENTS,
    ChunkMessage,
    CompleteMessage,
    ErrorCode,
    JobMessage,
    MessageType,
    ProgressMessage,
)

logger = logging.getLogger(__name__)

_KEEPALIVE_SECONDS = 5.0
_CLAIM_TIMEOUT = 5.0
#: Exit signals that mean "the process hit its resource limits".
_LIMIT_SIGNALS = {-signal.SIGXCPU, -signal.SIGKILL, -signal.SIGSEGV}
_EOF = object()


#: Thread pools of the numerical libraries, sized to the host's cores unless told.
THREAD_POOL_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    # A job analyses on one thread (concurrency is WORKER_CONCURRENCY processes), but each
    # BLAS pool thread maps about 40 MiB as the forkserver imports numpy and scipy, and
    # every job inherits those mappings: on a 32-core host they alone would exceed the
    # JOB_MEMORY_MB address-space limit. The forkserver takes this environment at start.
    for name in THREAD_POOL_VARIABLES:
        os.environ.setdefault(name, "1")
    # Imported (and warmed) once in the forkserver; every job process inherits it.
    ctx.set_forkserver_preload(["audio_service.jobs.preload"])
    return ctx


class JobRunner:
    def __init__(self, service: JobService, settings: Settings, *, consumer: str) -> None:
        self.service = service
        self.settings = settings
        self.consumer = consumer
        self.work_root = Path(settings.temp_dir) / "audio-service"
        self._ctx = _context()
        self._loops: list[asyncio.Task[None]] = []
        self.running: dict[str, Any] = {}
        if service.metrics is not None:
            service.metrics.track(service.metrics.jobs_running, lambda: len(self.running))

    async def start(self) -> None:
        self.work_root.mkdir(parents=True, exist_ok=True)
        # Start the forkserver now so the first job does not pay for librosa's import.
        await asyncio.to_thread(self._warm)
        self._loops = [
            asyncio.create_task(self._loop(), name=f"runner-{i}")
            for i in range(self.settings.worker_concurrency)
        ]

    def _warm(self) -> None:
        process = self._ctx.Process(target=_noop)
        process.start()
        process.join()

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []

    async def _loop(self) -> None:
        backoff = 0.2
        while True:
            try:
                claim = await self.service.backend.queue.claim(self.consumer, _CLAIM_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("queue unavailable (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            if claim is not None:
                await self._run_claim(claim)

    async def _run_claim(self, claim: Claim) -> None:
        keepalive = asyncio.create_task(self._keepalive(claim))
        try:
            job = await self.service.backend.jobs.get(claim.job_id)
            if job is not None and not job.status.finished:
                if claim.attempt > self.settings.job_max_attempts:
                    lost = claim.attempt - 1
                    await self.service.fail(
                        job.job_id, ErrorCode.WORKER_LOST, f"the job's worker was lost {lost} times"
                    )
                else:
                    await self.run(job, attempt=claim.attempt)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("job %s failed in the runner", claim.job_id)
            with contextlib.suppress(Exception):
                await self.service.fail(
                    claim.job_id, ErrorCode.INTERNAL_ERROR, "the job runner failed"
                )
        finally:
            keepalive.cancel()
            with contextlib.suppress(Exception):
                await self.service.backend.queue.done(claim)

    async def _keepalive(self, claim: Claim) -> None:
        # Well inside the idle time after which the queue gives the job to another worker.
        interval = min(_KEEPALIVE_SECONDS, self.settings.job_reclaim_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await self.service.backend.queue.keepalive(claim)

    async def run(self, job: JobRecord, *, attempt: int = 1) -> None:
        """Run one job to its end: a ``complete`` or ``error`` event, or cancellation."""
        work_dir = self.work_root / job.job_id
        work_dir.mkdir(parents=True, exist_ok=True)
        skip = 0
        if attempt > 1:
            skip = await self._chunks_already_sent(job.job_id)
            await self.service.publish(
                job.job_id,
                ProgressMessage(
                    job.status.value, job.progress, f"Worker lost; retrying (attempt {attempt})"
                ),
            )
        local: Path | None = None
        try:
            if job.source_kind is SourceKind.UPLOAD:
                local = await self.service.backend.uploads.fetch(job.source, work_dir)
            spec = JobSpec(
                job_id=job.job_id,
                path=str(local) if local else None,
                url=job.source if job.source_kind is SourceKind.URL else None,
                work_dir=str(work_dir),
                max_duration=self.settings.max_audio_duration,
                max_download_bytes=self.settings.max_download_bytes,
                allow_private_urls=self.settings.allow_private_urls,
                cpu_seconds=self.settings.job_cpu_seconds,
                memory_bytes=self.settings.job_memory_mb * 1024 * 1024,
                download_seconds=self.settings.download_timeout_seconds,
                label=_label(job),
            )
            await self._supervise(job.job_id, spec, skip=skip, floor=job.progress)
        finally:
            await asyncio.to_thread(shutil.rmtree, work_dir, True)

    async def _chunks_already_sent(self, job_id: str) -> int:
        events = await self.service.backend.events.read(job_id)
        return sum(1 for event in events if event.name == MessageType.CHUNK.value)

    async def _supervise(self, job_id: str, spec: JobSpec, *, skip: int, floor: int) -> None:
        parent, child = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(target=run_job, args=(spec, child), daemon=True)
        process.start()
        child.close()
        self.running[job_id] = process
        started = time.monotonic()
        if self.service.metrics is not None:
            self.service.metrics.jobs.labels("started").inc()
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        reader = threading.Thread(
            target=_pump, args=(parent, inbox, asyncio.get_running_loop()), daemon=True
        )
        reader.start()
        chunks = 0
        ended = False
        try:
            async with asyncio.timeout(self.settings.job_timeout_seconds):
                while (message := await inbox.get()) is not _EOF:
                    if isinstance(message, ChunkMessage):
                        chunks += 1
                        if chunks <= skip:
                            continue
                    elif isinstance(message, ProgressMessage) and message.progress < floor:
                        continue  # a retry starts over; progress never goes down
                    if await self.service.publish(job_id, message) is None:
                        return  # cancelled: the finally block stops the process
                    ended = message.type in TERMINAL_EVENTS
                    if isinstance(message, CompleteMessage):
                        self._observe_speed(message, time.monotonic() - started)
                    if isinstance(message, ChunkMessage) and self.settings.stream_pace_seconds:
                        await asyncio.sleep(self.settings.stream_pace_seconds)
            if not ended:
                await asyncio.to_thread(process.join, 5)
                await self.service.fail(job_id, *_exit_reason(process.exitcode))
        except TimeoutError:
            await self.service.fail(
                job_id,
                ErrorCode.TIMEOUT,
                f"the job took longer than {self.settings.job_timeout_seconds:g}s",
            )
        finally:
            self.running.pop(job_id, None)
            if process.is_alive():
                process.kill()
            await asyncio.to_thread(process.join, 5)
            parent.close()
            logger.info(
                "job %s finished in %.2fs (exit %s)",
                job_id,
                time.monotonic() - started,
                process.exitcode,
            )

    def _observe_speed(self, message: CompleteMessage, wall_seconds: float) -> None:
        """Real-time factor: seconds of audio per second of wall time (decode included)."""
        duration = message.analysis.get("duration")
        metrics = self.service.metrics
        if metrics is not None and isinstance(duration, int | float) and wall_seconds > 0:
            metrics.realtime_factor.observe(duration / wall_seconds)


def _label(job: JobRecord) -> str:
    """The user's name for the audio in error messages (a client name, only ever displayed)."""
    if job.source_kind is SourceKind.UPLOAD:
        name = (job.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
        return name[:100] or "the uploaded file"
    return "the downloaded audio"


def _exit_reason(exitcode: int | None) -> tuple[ErrorCode, str]:
    if exitcode in _LIMIT_SIGNALS:
        return ErrorCode.DECODE_ERROR, "the file exceeded the analysis resource limits"
    return ErrorCode.INTERNAL_ERROR, f"the analysis process ended unexpectedly (exit {exitcode})"


def _pump(conn: Connection, inbox: asyncio.Queue[Any], loop: asyncio.AbstractEventLoop) -> None:
    """Thread: move messages from the child's pipe to the event loop."""
    try:
        while True:
            message: JobMessage = conn.recv()
            loop.call_soon_threadsafe(inbox.put_nowait, message)
    except (EOFError, OSError):
        pass
    finally:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(inbox.put_nowait, _EOF)


def _noop() -> None:
    return None

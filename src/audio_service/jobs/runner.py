"""The job runner: takes jobs from the queue and supervises the analysis processes.

A runner takes jobs from the back-end's queue and runs each in a child process forked
from a pre-warmed forkserver (so the analysis modules and filter banks are built once, not
per job). It relays what the child reports to :meth:`JobService.publish`, the one write
path, which appends it to the job's log; delivery to sockets happens elsewhere, from that
log. The API process runs a runner in embedded mode; ``audio-service worker`` runs one in
cluster mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio_service.backends.base import Claim
from audio_service.config import Settings
from audio_service.jobs.children import (
    EOF_MARK,
    EXIT_GRACE_SECONDS,
    exit_reason,
    forkserver_context,
    noop,
    pump,
    reap,
)
from audio_service.jobs.process import JobSpec, run_job
from audio_service.jobs.service import JobService
from audio_service.models import JobRecord, SourceKind
from audio_service.protocol import (
    ChunkMessage,
    CompleteMessage,
    ErrorCode,
    ErrorMessage,
    JobMessage,
    MessageType,
    PreparedComplete,
    ProgressMessage,
)

logger = logging.getLogger(__name__)

_KEEPALIVE_SECONDS = 5.0
_CLAIM_TIMEOUT = 5.0


class JobRunner:
    def __init__(self, service: JobService, settings: Settings, *, consumer: str) -> None:
        self.service = service
        self.settings = settings
        self.consumer = consumer
        self.work_root = Path(settings.temp_dir) / "audio-service"
        self._ctx = forkserver_context()
        self._loops: list[asyncio.Task[None]] = []
        self.running: dict[str, Any] = {}
        if service.metrics is not None:
            service.metrics.track(service.metrics.jobs_running, lambda: len(self.running))

    async def start(self) -> None:
        self.work_root.mkdir(parents=True, exist_ok=True)
        # Start the forkserver now so the first job does not pay for the analysis imports.
        await asyncio.to_thread(self._warm)
        self._loops = [
            asyncio.create_task(self._loop(), name=f"runner-{i}")
            for i in range(self.settings.worker_concurrency)
        ]

    def _warm(self) -> None:
        process = self._ctx.Process(target=noop)
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
        lost = asyncio.Event()
        keepalive = asyncio.create_task(self._keepalive(claim, lost))
        try:
            job = await self.service.backend.jobs.get(claim.job_id)
            # Fence 0: the job is gone, or another worker reclaimed it before we fenced it.
            if job is not None and not job.status.finished and claim.fence:
                if claim.attempt > self.settings.job_max_attempts:
                    lost_times = claim.attempt - 1
                    await self.service.fail(
                        job.job_id,
                        ErrorCode.WORKER_LOST,
                        f"the job's worker was lost {lost_times} times",
                        fence=claim.fence,
                    )
                else:
                    await self.run(job, attempt=claim.attempt, fence=claim.fence, lost=lost)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("job %s failed in the runner", claim.job_id)
            with contextlib.suppress(Exception):
                await self.service.fail(
                    claim.job_id,
                    ErrorCode.INTERNAL_ERROR,
                    "the job runner failed",
                    fence=claim.fence,
                )
        finally:
            keepalive.cancel()
            with contextlib.suppress(Exception):
                await self.service.backend.queue.done(claim)

    async def _keepalive(self, claim: Claim, lost: asyncio.Event) -> None:
        """Keep the claim; once it is lost, stop the job's process at once.

        Its appends would be refused anyway (the fence), but a process that runs on costs
        CPU and keeps a slot that the job's new worker already uses.
        """
        # Well inside the idle time after which the queue gives the job to another worker.
        interval = min(_KEEPALIVE_SECONDS, self.settings.job_reclaim_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                owned = await self.service.backend.queue.keepalive(claim)
            except asyncio.CancelledError:
                raise
            except Exception:
                continue  # Redis unreachable: the next keepalive, or the fence, decides
            if not owned:
                logger.warning("job %s: claim lost; stopping its process", claim.job_id)
                lost.set()
                process = self.running.get(_running_key(claim.job_id, claim.fence))
                if process is not None and process.is_alive():
                    process.kill()
                return

    async def run(
        self,
        job: JobRecord,
        *,
        attempt: int = 1,
        fence: int = 0,
        lost: asyncio.Event | None = None,
    ) -> None:
        """Run one job to its end: a ``complete`` or ``error`` event, cancellation, or the
        loss of its claim (``lost``); ``fence`` is the claim's, carried by every append."""
        # Per claim: a stalled worker that wakes up must not delete its successor's files.
        work_dir = self.work_root / f"{job.job_id}.{fence}"
        work_dir.mkdir(parents=True, exist_ok=True)
        skip = 0
        if attempt > 1:
            # The fence was taken before this read: no older claim can append behind it.
            skip = await self._chunks_already_sent(job.job_id)
            retrying = ProgressMessage(
                job.status.value, job.progress, f"Worker lost; retrying (attempt {attempt})"
            )
            if await self.service.publish(job.job_id, retrying, fence=fence) is None:
                return
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
                cpu_per_audio_second=self.settings.job_cpu_seconds_per_audio_second,
                memory_bytes=self.settings.job_memory_mb * 1024 * 1024,
                download_seconds=self.settings.download_timeout_seconds,
                label=_label(job),
            )
            run = _Run(fence=fence, skip=skip, floor=job.progress, lost=lost or asyncio.Event())
            await self._supervise(job.job_id, spec, run)
        finally:
            await asyncio.to_thread(shutil.rmtree, work_dir, True)

    async def _chunks_already_sent(self, job_id: str) -> int:
        events = await self.service.backend.events.read(job_id)
        return sum(1 for event in events if event.name == MessageType.CHUNK.value)

    async def _supervise(self, job_id: str, spec: JobSpec, run: _Run) -> None:
        parent, child = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(target=run_job, args=(spec, child), daemon=True)
        process.start()
        child.close()
        key = _running_key(job_id, run.fence)
        self.running[key] = process
        if run.lost.is_set():
            process.kill()  # the claim was lost while the job was being prepared
        started = time.monotonic()
        if self.service.metrics is not None:
            self.service.metrics.jobs.labels("started").inc()
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        reader = threading.Thread(
            target=pump, args=(parent, inbox, asyncio.get_running_loop()), daemon=True
        )
        reader.start()
        # The job's last event is appended only once its process is gone: whoever sees the
        # job end (a client, a test counting processes) never sees that process still exit.
        last: JobMessage | None = None
        # A process that reported its end (or closed its pipe) gets a moment to exit by
        # itself; one that timed out, was cancelled or failed here is stopped at once.
        grace = 0.0
        try:
            async with asyncio.timeout(self.settings.job_timeout_seconds):
                last = await self._relay(job_id, inbox, run, started)
            grace = 0.0 if last is _STOPPED else EXIT_GRACE_SECONDS
        except TimeoutError:
            timeout = self.settings.job_timeout_seconds
            last = ErrorMessage(ErrorCode.TIMEOUT, f"the job took longer than {timeout:g}s")
        finally:
            self.running.pop(key, None)
            await reap(process, grace=grace)
            parent.close()
            logger.info(
                "job %s finished in %.2fs (exit %s)",
                job_id,
                time.monotonic() - started,
                process.exitcode,
            )
        if run.lost.is_set() or last is _STOPPED:
            return
        if last is None:
            last = ErrorMessage(*exit_reason(process.exitcode))
        await self.service.publish(job_id, last, fence=run.fence)

    async def _relay(
        self, job_id: str, inbox: asyncio.Queue[Any], run: _Run, started: float
    ) -> JobMessage | None:
        """Append what the process reports, up to its terminal message, which is returned
        unsent (``None`` if the process ended without one, :data:`_STOPPED` if the job was
        cancelled or reclaimed meanwhile)."""
        chunks = 0
        while (message := await inbox.get()) is not EOF_MARK:
            if isinstance(message, ErrorMessage | CompleteMessage | PreparedComplete):
                if isinstance(message, CompleteMessage | PreparedComplete):
                    self._observe_speed(message, time.monotonic() - started)
                return message
            if isinstance(message, ChunkMessage):
                chunks += 1
                if chunks <= run.skip:
                    continue
            elif isinstance(message, ProgressMessage) and message.progress < run.floor:
                continue  # a retry starts over; progress never goes down
            if await self.service.publish(job_id, message, fence=run.fence) is None:
                return _STOPPED  # cancelled or reclaimed: the caller stops the process
            if isinstance(message, ChunkMessage) and self.settings.stream_pace_seconds:
                await asyncio.sleep(self.settings.stream_pace_seconds)
        return None

    def _observe_speed(
        self, message: CompleteMessage | PreparedComplete, wall_seconds: float
    ) -> None:
        """Real-time factor: seconds of audio per second of wall time (decode included)."""
        if isinstance(message, PreparedComplete):
            duration: object = message.duration
        else:
            duration = message.analysis.get("duration")
        metrics = self.service.metrics
        if metrics is not None and isinstance(duration, int | float) and wall_seconds > 0:
            metrics.realtime_factor.observe(duration / wall_seconds)


@dataclass(frozen=True, slots=True)
class _Run:
    """One claim's run of a job."""

    #: The claim's fencing token, carried by every append.
    fence: int
    #: Chunks an earlier attempt already appended.
    skip: int
    #: Progress already reported: a retry never reports less.
    floor: int
    #: Set when the claim was lost to another worker.
    lost: asyncio.Event


def _label(job: JobRecord) -> str:
    """The user's name for the audio in error messages (a client name, only ever displayed)."""
    if job.source_kind is SourceKind.UPLOAD:
        name = (job.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
        return name[:100] or "the uploaded file"
    return "the downloaded audio"


#: What :meth:`JobRunner._relay` returns when its job was cancelled or reclaimed.
_STOPPED = ErrorMessage(ErrorCode.CANCELLED, "")


def _running_key(job_id: str, fence: int) -> str:
    return f"{job_id}.{fence}"

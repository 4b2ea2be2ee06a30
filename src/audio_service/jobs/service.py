"""Creating, publishing to, cancelling and reading jobs: the one API over the back-end.

The REST routes, the socket handlers and the runner all go through :class:`JobService`, so
a job's record and its event log never disagree on what happened.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from audio_service.backends.base import Backend, remove_path
from audio_service.config import Settings
from audio_service.errors import JobNotFound, QueueFull, TooManyJobs
from audio_service.jobs.cache_keys import upload_key, url_key
from audio_service.metrics import Metrics
from audio_service.models import JobRecord, JobStatus, SourceKind, new_job_id
from audio_service.protocol import (
    TERMINAL_EVENTS,
    Analysis,
    ErrorCode,
    ErrorMessage,
    JobMessage,
    MessageType,
    PreparedComplete,
    ProgressMessage,
    encode_message,
)

logger = logging.getLogger(__name__)


class JobService:
    def __init__(self, backend: Backend, settings: Settings, metrics: Metrics | None = None):
        self.backend = backend
        self.settings = settings
        self.metrics = metrics

    async def create_upload_job(
        self, path: Path, filename: str | None, sha256: str | None = None, client: str = ""
    ) -> JobRecord:
        """A job for an uploaded file (``sha256``: of its bytes, the analysis cache's key;
        ``client``: who asked, whose active jobs are capped)."""
        job_id = new_job_id()
        key = upload_key(sha256) if sha256 and self.settings.analysis_cache else None
        if key is not None:
            job = JobRecord(job_id, SourceKind.UPLOAD, source="", filename=filename, cache_key=key)
            if await self._replay_cached(job):
                await asyncio.to_thread(remove_path, path)
                return job
        try:
            await self._admit(client)
        except Exception:
            await asyncio.to_thread(remove_path, path)
            raise
        try:
            ref = await self.backend.uploads.stash(job_id, path)
        except Exception:
            await self._release(client)
            raise
        job = JobRecord(
            job_id=job_id,
            source_kind=SourceKind.UPLOAD,
            source=ref,
            filename=filename,
            cache_key=key,
            client=client,
        )
        return await self._submit(job)

    async def create_url_job(self, url: str, video_id: str | None, client: str = "") -> JobRecord:
        key = url_key(url) if self.settings.analysis_cache else None
        job = JobRecord(
            job_id=new_job_id(),
            source_kind=SourceKind.URL,
            source=url,
            video_id=video_id,
            cache_key=key,
        )
        if key is not None and await self._replay_cached(job):
            return job  # a replay runs nothing: it does not count against the caps
        await self._admit(client)
        job.client = client
        return await self._submit(job)

    async def _admit(self, client: str) -> None:
        """Refuse a job when the queue is full, or when its client has enough running."""
        if await self.backend.queue.depth() >= self.settings.max_queued_jobs:
            raise QueueFull("the service is busy; retry shortly")
        limit = self.settings.max_active_jobs_per_client
        if client and not await self.backend.jobs.admit(client, limit):
            raise TooManyJobs(
                f"you already have {limit} jobs queued or running; retry when one ends",
                retry_after=10,
            )

    async def _release(self, client: str) -> None:
        if client:
            try:
                await self.backend.jobs.release(client)
            except Exception:
                logger.exception("could not release a job of client %s", client)

    async def _replay_cached(self, job: JobRecord) -> bool:
        """Give ``job`` the events of the retained job that analysed the same song.

        Its own job id and seqs, the same events (progress included), and no analysis
        process. False, with nothing created, when there is no usable entry: the job then
        runs normally. A failing cache never fails a job.
        """
        assert job.cache_key is not None
        try:
            source = await self.backend.cache.get(job.cache_key)
            events = await self.backend.events.read(source) if source else []
        except Exception as exc:
            logger.warning("analysis cache unavailable (%s); analysing", exc)
            return False
        if not events or events[-1].name != MessageType.COMPLETE.value:
            return False
        job.cached = True
        await self.backend.jobs.create(job)
        if self.metrics is not None:
            self.metrics.jobs.labels("created").inc()
            self.metrics.jobs.labels("cached").inc()
        # Events go in as stored (nothing re-encoded) in as few round trips as the back-end
        # allows, and the record takes the final progress and the duration once.
        progress: dict[str, Any] = {}
        duration = None
        for event in events[:-1]:
            if event.name == MessageType.PROGRESS.value:
                body = json.loads(event.data)
                progress = {k: body[k] for k in ("status", "progress", "message")}
                duration = body.get("duration", duration)
        if (
            await self.backend.events.append_many(
                job.job_id, [(event.name, event.data) for event in events[:-1]]
            )
            is None
        ):
            return True  # cancelled while replaying
        if progress:
            changes = _record_fields(progress) | ({"duration": duration} if duration else {})
            await self.backend.jobs.update(job.job_id, **changes)
        # The stored complete event as it is: the analysis is not decoded and encoded again.
        await self.publish(job.job_id, PreparedComplete(events[-1].data, duration))
        return True

    async def _submit(self, job: JobRecord) -> JobRecord:
        try:
            await self.backend.jobs.create(job)
        except Exception:
            await self._release(job.client)
            raise
        if self.metrics is not None:
            self.metrics.jobs.labels("created").inc()
        await self.publish(job.job_id, ProgressMessage(job.status.value, 0, job.message))
        await self.backend.queue.enqueue(job.job_id)
        return job

    async def get(self, job_id: str) -> JobRecord:
        job = await self.backend.jobs.get(job_id)
        if job is None:
            raise JobNotFound("no such job")
        return job

    async def publish(self, job_id: str, message: JobMessage, *, fence: int = 0) -> int | None:
        """Append ``message`` to the job's log and mirror it in the job record.

        Returns the event's seq, or ``None`` when the job already ended (cancelled, say) or
        ``fence``, the caller's claim, was superseded: the caller should stop working on it.
        """
        name, data = encode_message(message)
        terminal = name in TERMINAL_EVENTS
        seq = await self.backend.events.append(job_id, name, data, final=terminal, fence=fence)
        if seq is None:
            return None
        if self.metrics is not None:
            self.metrics.events_appended.labels(name).inc()
        if isinstance(message, ProgressMessage):
            changes: dict[str, Any] = {}
            if message.duration is not None:
                changes["duration"] = message.duration
            await self.backend.jobs.update(
                job_id,
                status=JobStatus(message.status),
                progress=message.progress,
                message=message.message,
                **changes,
            )
        elif isinstance(message, ErrorMessage):
            await self.backend.jobs.update(
                job_id,
                status=JobStatus(_status_of(message)),
                message=message.message,
                error_code=message.code,
                error_message=message.message,
            )
        elif name == MessageType.COMPLETE.value:
            await self.backend.jobs.update(job_id, status=JobStatus.COMPLETE, progress=100)
        if name == MessageType.COMPLETE.value:
            await self._remember(job_id)
        if terminal:
            if self.metrics is not None:
                self.metrics.jobs.labels(name if name == "complete" else _status_of(message)).inc()
            await self.backend.retire(job_id, self.settings.job_retention_seconds)
            await self._ended(job_id)
        return seq

    async def fail(
        self, job_id: str, code: ErrorCode, message: str, *, fence: int = 0
    ) -> int | None:
        return await self.publish(job_id, ErrorMessage(code=code, message=message), fence=fence)

    async def cancel(self, job_id: str) -> JobRecord:
        """End the job with a ``CANCELLED`` error; a no-op on a job that already ended."""
        job = await self.get(job_id)
        if not job.status.finished:
            await self.fail(job_id, ErrorCode.CANCELLED, "Cancelled by request")
        return await self.get(job_id)

    async def analysis(self, job_id: str) -> Analysis | None:
        """The full analysis of a complete job (``None`` while it is not complete)."""
        job = await self.get(job_id)
        if job.status is not JobStatus.COMPLETE:
            return None
        last = await self.backend.events.last_seq(job_id)
        events = await self.backend.events.read(job_id, after=last - 1)
        if not events or events[-1].name != MessageType.COMPLETE.value:
            return None
        analysis: Analysis = json.loads(events[-1].data)["analysis"]
        return analysis

    async def _remember(self, job_id: str) -> None:
        """Point the job's cache key at it: its log now holds a complete analysis."""
        try:
            job = await self.backend.jobs.get(job_id)
            if job is not None and job.cache_key and self.settings.analysis_cache:
                retention = self.settings.job_retention_seconds
                await self.backend.cache.put(job.cache_key, job_id, retention)
        except Exception as exc:
            logger.warning("could not store job %s in the analysis cache: %s", job_id, exc)

    async def _ended(self, job_id: str) -> None:
        """The job's log closed (once): free its client's slot and its upload."""
        job = await self.backend.jobs.get(job_id)
        if job is not None:
            await self._release(job.client)
        # A job replayed from the cache never stashed its upload (its source is empty).
        if job is not None and job.source_kind is SourceKind.UPLOAD and job.source:
            try:
                await self.backend.uploads.discard(job.source)
            except Exception:
                logger.exception("could not discard the upload of job %s", job_id)


def _record_fields(progress: dict[str, Any]) -> dict[str, Any]:
    """A stored progress event's fields as job record changes."""
    return {
        "status": JobStatus(progress["status"]),
        "progress": progress["progress"],
        "message": progress["message"],
    }


def _status_of(message: JobMessage) -> str:
    if isinstance(message, ErrorMessage) and message.code == ErrorCode.CANCELLED:
        return JobStatus.CANCELLED.value
    return JobStatus.ERROR.value

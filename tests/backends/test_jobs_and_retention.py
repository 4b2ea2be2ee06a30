"""The job store contract, and what retiring a finished job keeps and then drops."""

from __future__ import annotations

import asyncio

from audio_service.backends.base import Backend
from audio_service.models import JobRecord, JobStatus, SourceKind, new_job_id


def a_job() -> JobRecord:
    return JobRecord(
        job_id=new_job_id(), source_kind=SourceKind.UPLOAD, source="ref-1", filename="song.wav"
    )


async def test_a_created_job_reads_back_field_for_field(backend: Backend) -> None:
    job = a_job()
    job.video_id, job.progress, job.duration = "vid", 7, 12.5
    await backend.jobs.create(job)
    stored = await backend.jobs.get(job.job_id)
    assert stored is not None
    assert stored.to_dict() == job.to_dict()
    assert stored.status is JobStatus.PENDING and stored.source_kind is SourceKind.UPLOAD


async def test_unknown_job_is_none(backend: Backend) -> None:
    assert await backend.jobs.get("no-such-job") is None


async def test_update_sets_fields_and_the_update_time(backend: Backend) -> None:
    job = a_job()
    await backend.jobs.create(job)
    await asyncio.sleep(0.01)
    await backend.jobs.update(
        job.job_id,
        status=JobStatus.ERROR,
        progress=40,
        error_code="DECODE_ERROR",
        error_message="not audio",
    )
    stored = await backend.jobs.get(job.job_id)
    assert stored is not None
    assert stored.status is JobStatus.ERROR
    assert (stored.progress, stored.error_code, stored.error_message) == (
        40,
        "DECODE_ERROR",
        "not audio",
    )
    assert stored.updated_at > job.updated_at
    assert stored.created_at == job.created_at and stored.filename == "song.wav"


async def test_update_of_an_unknown_job_creates_nothing(backend: Backend) -> None:
    await backend.jobs.update("no-such-job", status=JobStatus.ANALYZING, progress=5)
    assert await backend.jobs.get("no-such-job") is None


async def test_a_finished_job_is_not_reopened_by_a_late_update(backend: Backend) -> None:
    """A worker's progress can land after DELETE ended the job: the end must stand."""
    job = a_job()
    await backend.jobs.create(job)
    await backend.jobs.update(job.job_id, status=JobStatus.CANCELLED, error_code="CANCELLED")
    await backend.jobs.update(job.job_id, status=JobStatus.ANALYZING, progress=60)
    await backend.jobs.update(job.job_id, progress=70)
    stored = await backend.jobs.get(job.job_id)
    assert stored is not None
    assert (stored.status, stored.progress) == (JobStatus.CANCELLED, 0)


async def test_a_read_record_is_a_copy(backend: Backend) -> None:
    job = a_job()
    await backend.jobs.create(job)
    first = await backend.jobs.get(job.job_id)
    assert first is not None
    first.progress = 99
    again = await backend.jobs.get(job.job_id)
    assert again is not None and again.progress == 0


async def test_a_retired_job_stays_for_the_retention_time_then_goes(backend: Backend) -> None:
    job = a_job()
    await backend.jobs.create(job)
    await backend.events.append(job.job_id, "progress", "{}")
    await backend.events.append(job.job_id, "complete", "{}", final=True)
    await backend.retire(job.job_id, 0.5)
    assert await backend.jobs.get(job.job_id) is not None
    assert await backend.events.last_seq(job.job_id) == 2
    await asyncio.sleep(0.8)
    await backend.sweep()
    assert await backend.jobs.get(job.job_id) is None
    assert await backend.events.read(job.job_id) == []
    assert await backend.events.last_seq(job.job_id) == 0


async def test_ping_answers(backend: Backend) -> None:
    assert await backend.ping() is True

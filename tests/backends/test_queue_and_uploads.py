"""The job queue and upload store contracts, shared by both back-ends."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from audio_service.backends.base import Backend


async def test_jobs_are_claimed_once_in_order_on_their_first_attempt(backend: Backend) -> None:
    for job_id in ("j1", "j2", "j3"):
        await backend.queue.enqueue(job_id)
    claims = [await backend.queue.claim("w1", timeout=1) for _ in range(3)]
    assert [c.job_id for c in claims if c] == ["j1", "j2", "j3"]
    assert {c.attempt for c in claims if c} == {1}
    for claim in claims:
        assert claim is not None
        await backend.queue.keepalive(claim)
        await backend.queue.done(claim)
    assert await backend.queue.claim("w1", timeout=0.2) is None


async def test_claim_on_an_empty_queue_waits_then_gives_up(backend: Backend) -> None:
    started = time.monotonic()
    assert await backend.queue.claim("w1", timeout=0.3) is None
    assert 0.2 <= time.monotonic() - started < 2


async def test_a_waiting_claim_gets_a_job_as_soon_as_it_is_queued(backend: Backend) -> None:
    waiting = asyncio.create_task(backend.queue.claim("w1", timeout=5))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await backend.queue.enqueue("late")
    claim = await asyncio.wait_for(waiting, 2)
    assert claim is not None and claim.job_id == "late"
    assert time.monotonic() - started < 1
    await backend.queue.done(claim)


async def test_two_workers_never_get_the_same_job(backend: Backend) -> None:
    await backend.queue.enqueue("a")
    await backend.queue.enqueue("b")
    first, second = await asyncio.gather(
        backend.queue.claim("w1", timeout=1), backend.queue.claim("w2", timeout=1)
    )
    assert first is not None and second is not None
    assert {first.job_id, second.job_id} == {"a", "b"}


async def test_an_upload_round_trips_and_discard_removes_every_copy(
    backend: Backend, tmp_path: Path
) -> None:
    # 2.5 MiB: more than one piece when the back-end cuts files into pieces.
    payload = np.random.default_rng(3).bytes(5 * 512 * 1024)
    source = tmp_path / "incoming.upload"
    source.write_bytes(payload)
    ref = await backend.uploads.stash("job-1", source)
    local = await backend.uploads.fetch(ref, tmp_path / "work")
    assert local.read_bytes() == payload
    await backend.uploads.discard(ref, local)
    assert not local.exists() and not source.exists()
    await backend.uploads.discard(ref, local)  # safe twice


async def test_depth_counts_queued_and_running_jobs(backend: Backend) -> None:
    assert await backend.queue.depth() == 0
    for job_id in ("a", "b"):
        await backend.queue.enqueue(job_id)
    assert await backend.queue.depth() == 2
    claim = await backend.queue.claim("w1", timeout=1)
    assert claim is not None and await backend.queue.depth() == 2  # running still counts
    await backend.queue.done(claim)
    assert await backend.queue.depth() == 1


async def test_a_client_is_admitted_up_to_its_limit(backend: Backend) -> None:
    assert [await backend.jobs.admit("198.51.100.1", 2) for _ in range(3)] == [True, True, False]
    assert await backend.jobs.admit("198.51.100.2", 2) is True  # others are not affected
    await backend.jobs.release("198.51.100.1")
    assert await backend.jobs.admit("198.51.100.1", 2) is True
    assert await backend.jobs.admit("198.51.100.1", 2) is False

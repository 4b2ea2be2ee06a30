"""Fencing: an append carries its writer's claim, and a superseded claim appends nothing.

A worker that stalled (SIGSTOP, a long GC pause, a frozen VM) past the reclaim time wakes
up still believing it runs its job; the queue has meanwhile given the job to another
worker. Without a fence both append, and subscribers get every chunk twice.
"""

from __future__ import annotations

import asyncio

from audio_service.backends import lua
from audio_service.backends.base import Backend
from audio_service.backends.keys import QUEUE_GROUP
from audio_service.backends.redis import RedisBackend
from tests.backends.conftest import RECLAIM_SECONDS
from tests.backends.test_events import new_job


async def test_a_newer_claim_fences_out_the_older_one(backend: Backend) -> None:
    job_id = await new_job(backend)
    # The same job queued twice is claimed twice: the second claim supersedes the first.
    await backend.queue.enqueue(job_id)
    await backend.queue.enqueue(job_id)
    first = await backend.queue.claim("w1", timeout=1)
    assert first is not None and first.fence == 1
    assert await backend.events.append(job_id, "chunk", '{"i":0}', fence=first.fence) == 1
    second = await backend.queue.claim("w2", timeout=1)
    assert second is not None and second.fence == 2
    assert await backend.events.append(job_id, "chunk", '{"i":0}', fence=first.fence) is None
    assert await backend.events.append(job_id, "chunk", '{"i":1}', fence=second.fence) == 2
    # Writers without a claim (the API: creation, cancellation) are never fenced.
    assert await backend.events.append(job_id, "error", "{}", final=True) == 3
    assert [e.seq for e in await backend.events.read(job_id)] == [1, 2, 3]
    stored = await backend.jobs.get(job_id)
    assert stored is not None and stored.attempts == 2


async def test_a_claim_of_a_job_without_record_has_no_fence(backend: Backend) -> None:
    await backend.queue.enqueue("gone")
    claim = await backend.queue.claim("w1", timeout=1)
    assert claim is not None and claim.fence == 0
    await backend.queue.done(claim)


async def test_a_stalled_workers_claim_is_refused_after_a_reclaim(
    redis_backend: RedisBackend,
) -> None:
    backend = redis_backend
    job_id = await new_job(backend)
    await backend.queue.enqueue(job_id)
    stalled = await backend.queue.claim("stalled", timeout=1)
    assert stalled is not None
    assert await backend.events.append(job_id, "chunk", '{"i":0}', fence=stalled.fence) == 1
    await asyncio.sleep(RECLAIM_SECONDS + 0.1)  # no keepalive: the worker looks dead
    retry = await backend.queue.claim("alive", timeout=5)
    assert retry is not None and retry.attempt == 2 and retry.fence == stalled.fence + 1
    # The stalled worker wakes up: its keepalive tells it the job is gone, and whatever it
    # still tries to append is refused.
    assert await backend.queue.keepalive(stalled) is False
    assert await backend.events.append(job_id, "chunk", '{"i":1}', fence=stalled.fence) is None
    assert await backend.queue.keepalive(retry) is True
    assert await backend.events.append(job_id, "chunk", '{"i":1}', fence=retry.fence) == 2
    # Nor can it take a new fence on the entry it no longer owns.
    fence = backend.redis.register_script(lua.FENCE)
    reply = await fence(
        [backend.keys.queue, backend.keys.job(job_id)],
        [QUEUE_GROUP, "stalled", retry.handle.split()[0]],
    )
    assert [int(x) for x in reply] == [0, 0]
    stored = await backend.jobs.get(job_id)
    assert stored is not None and stored.attempts == retry.fence

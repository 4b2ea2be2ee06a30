"""What only the Redis queue promises: jobs of dead workers come back, in bounded time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from audio_service.backends.keys import QUEUE_GROUP
from audio_service.backends.redis import RedisBackend
from audio_service.backends.redis_client import entries
from tests.backends.conftest import RECLAIM_SECONDS


async def test_a_dead_workers_job_goes_to_another_worker(redis_backend: RedisBackend) -> None:
    queue = redis_backend.queue
    await queue.enqueue("job-1")
    lost = await queue.claim("dead", timeout=1)
    assert lost is not None and lost.attempt == 1
    # Nobody else gets it while it is fresh...
    assert await queue.claim("alive", timeout=0.2) is None
    await asyncio.sleep(RECLAIM_SECONDS + 0.1)
    started = time.monotonic()
    retry = await queue.claim("alive", timeout=5)
    assert retry is not None and (retry.job_id, retry.attempt) == ("job-1", 2)
    assert time.monotonic() - started < 1
    # The dead worker coming back cannot take it back, nor acknowledge the retry's run.
    await queue.keepalive(lost)
    await queue.done(lost)
    assert await _owner(redis_backend, "job-1") == "alive"
    await queue.done(retry)
    assert await redis_backend.redis.xlen(redis_backend.keys.queue) == 0
    assert await _owner(redis_backend, "job-1") is None


async def test_keepalives_keep_a_job_with_its_worker(redis_backend: RedisBackend) -> None:
    queue = redis_backend.queue
    await queue.enqueue("job-1")
    claim = await queue.claim("busy", timeout=1)
    assert claim is not None
    for _ in range(6):
        await asyncio.sleep(RECLAIM_SECONDS / 3)
        await queue.keepalive(claim)
        assert await queue.claim("idle", timeout=0.01) is None
    assert await _owner(redis_backend, "job-1") == "busy"
    # Keepalives are not deliveries: when the worker does die, this is only attempt 2.
    await asyncio.sleep(RECLAIM_SECONDS + 0.1)
    retry = await queue.claim("idle", timeout=1)
    assert retry is not None and retry.attempt == 2


async def test_every_reclaim_counts_as_an_attempt(redis_backend: RedisBackend) -> None:
    queue = redis_backend.queue
    await queue.enqueue("job-1")
    attempts = []
    for worker in ("w1", "w2", "w3", "w4"):
        deadline = time.monotonic() + 5
        claim = None
        while claim is None and time.monotonic() < deadline:
            claim = await queue.claim(worker, timeout=0.5)
        assert claim is not None
        attempts.append(claim.attempt)
    assert attempts == [1, 2, 3, 4]


async def test_the_queue_comes_back_after_its_key_vanished(redis_backend: RedisBackend) -> None:
    # An idle queue expires with its consumer group, as does one on a Redis that restarted
    # without its data: the next claim must make it again, not fail forever.
    await redis_backend.redis.delete(redis_backend.keys.queue)
    assert await redis_backend.queue.claim("w1", timeout=0.1) is None
    await redis_backend.queue.enqueue("job-2")
    claim = await redis_backend.queue.claim("w1", timeout=1)
    assert claim is not None and claim.job_id == "job-2"


@pytest.mark.parametrize("enqueue_first", [True, False])
async def test_jobs_queued_before_any_worker_started_are_not_lost(
    redis_backend: RedisBackend, enqueue_first: bool
) -> None:
    key = redis_backend.keys.queue
    await redis_backend.redis.delete(key)
    if enqueue_first:
        await redis_backend.queue.enqueue("early")
    await redis_backend.connect()
    if not enqueue_first:
        await redis_backend.queue.enqueue("early")
    claim = await redis_backend.queue.claim("w1", timeout=1)
    assert claim is not None and claim.job_id == "early"


async def _owner(backend: RedisBackend, job_id: str) -> str | None:
    """The consumer that holds ``job_id`` pending, if any."""
    key = backend.keys.queue
    pending: list[dict[str, Any]] = await backend.redis.xpending_range(
        key, QUEUE_GROUP, "-", "+", 100
    )
    for entry in pending:
        (_, fields), *_ = entries(await backend.redis.xrange(key, entry["message_id"], "+", 1))
        if fields[b"job"].decode() == job_id:
            return str(entry["consumer"].decode())
    return None

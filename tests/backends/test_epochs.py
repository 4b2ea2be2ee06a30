"""Epochs: each incarnation of a job's log has its own, so a lost log is never mistaken
for the one clients hold seqs of."""

from __future__ import annotations

from audio_service.backends.base import Backend
from audio_service.backends.memory import MemoryBackend
from audio_service.backends.redis import RedisBackend
from tests.backends.test_events import new_job


async def _lose_log(backend: Backend, job_id: str) -> None:
    """What a Redis that evicted or never replicated the log key leaves: the record alone."""
    if isinstance(backend, RedisBackend):
        await backend.redis.delete(backend.keys.log(job_id))
    else:
        assert isinstance(backend, MemoryBackend)
        backend._events.drop(job_id)


async def test_the_first_append_gives_the_log_an_epoch(backend: Backend) -> None:
    a, b = await new_job(backend), await new_job(backend)
    for job_id in (a, b):
        await backend.events.append(job_id, "progress", "{}")
    await backend.events.append(a, "chunk", "{}")
    heads = await backend.events.heads([a, b, "no-such-job"])
    assert set(heads) == {a, b}
    assert heads[a].last_seq == 2 and heads[b].last_seq == 1
    assert heads[a].epoch and heads[a].epoch != heads[b].epoch
    record = await backend.jobs.get(a)
    assert record is not None and record.epoch == heads[a].epoch
    # Appends to a live log keep its epoch.
    await backend.events.append(a, "chunk", "{}")
    assert (await backend.events.heads([a]))[a].epoch == heads[a].epoch


async def test_a_log_created_again_after_a_loss_has_a_new_epoch(backend: Backend) -> None:
    job_id = await new_job(backend)
    for name in ("progress", "chunk", "chunk"):
        await backend.events.append(job_id, name, "{}")
    before = (await backend.events.heads([job_id]))[job_id]
    await _lose_log(backend, job_id)
    assert await backend.events.append(job_id, "chunk", "{}") == 1
    after = (await backend.events.heads([job_id]))[job_id]
    assert after.last_seq == 1 and after.epoch != before.epoch
    record = await backend.jobs.get(job_id)
    assert record is not None and record.epoch == after.epoch

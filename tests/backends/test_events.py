"""The event log contract: numbering, replay, closing, and tailing many jobs at once."""

from __future__ import annotations

import asyncio
import random
import time

from audio_service.backends.base import Backend
from audio_service.models import JobRecord, SourceKind, new_job_id
from audio_service.protocol import Event


async def new_job(backend: Backend) -> str:
    job_id = new_job_id()
    await backend.jobs.create(
        JobRecord(job_id=job_id, source_kind=SourceKind.URL, source="https://a.example")
    )
    return job_id


async def fill(backend: Backend, job_id: str, count: int) -> list[Event]:
    events = []
    for i in range(count):
        data = f'{{"i":{i}}}'
        seq = await backend.events.append(job_id, "chunk", data)
        assert seq is not None
        events.append(Event(seq, "chunk", data))
    return events


async def test_append_numbers_events_from_one_and_read_replays_them(backend: Backend) -> None:
    job_id = await new_job(backend)
    assert await backend.events.last_seq(job_id) == 0
    assert await backend.events.read(job_id) == []
    events = await fill(backend, job_id, 5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert await backend.events.read(job_id) == events
    assert await backend.events.last_seq(job_id) == 5


async def test_read_after_and_limit_page_through_the_log(backend: Backend) -> None:
    job_id = await new_job(backend)
    events = await fill(backend, job_id, 10)
    assert await backend.events.read(job_id, after=7) == events[7:]
    assert await backend.events.read(job_id, after=2, limit=3) == events[2:5]
    assert await backend.events.read(job_id, after=10) == []
    assert await backend.events.read(job_id, after=8, limit=5) == events[8:]


async def test_logs_of_different_jobs_are_independent(backend: Backend) -> None:
    a, b = await new_job(backend), await new_job(backend)
    await fill(backend, a, 3)
    assert await backend.events.append(b, "progress", "{}") == 1
    assert await backend.events.last_seq(a) == 3
    assert [e.seq for e in await backend.events.read(b)] == [1]


async def test_unknown_job_has_an_empty_log(backend: Backend) -> None:
    assert await backend.events.read("no-such-job") == []
    assert await backend.events.last_seq("no-such-job") == 0


async def test_final_event_closes_the_log(backend: Backend) -> None:
    job_id = await new_job(backend)
    await fill(backend, job_id, 2)
    assert await backend.events.append(job_id, "complete", '{"a":1}', final=True) == 3
    assert await backend.events.append(job_id, "chunk", "{}") is None
    assert await backend.events.append(job_id, "error", "{}", final=True) is None
    assert await backend.events.last_seq(job_id) == 3
    assert (await backend.events.read(job_id))[-1] == Event(3, "complete", '{"a":1}')


async def test_tail_returns_only_events_after_the_positions(backend: Backend) -> None:
    a, b, c = await new_job(backend), await new_job(backend), await new_job(backend)
    events_a = await fill(backend, a, 5)
    events_b = await fill(backend, b, 2)
    await fill(backend, c, 4)  # not followed
    found = await backend.events.tail({a: 2, b: 2}, timeout=1)
    assert found == {a: events_a[2:]}
    events_b += await fill(backend, b, 1)
    assert await backend.events.tail({b: 1}, timeout=1) == {b: events_b[1:]}


async def test_tail_times_out_empty_when_nothing_happens(backend: Backend) -> None:
    job_id = await new_job(backend)
    await fill(backend, job_id, 1)
    # Tails may return early, and empty, for what happened before they were called.
    assert await backend.events.tail({job_id: 1}, timeout=0) == {}
    started = time.monotonic()
    assert await backend.events.tail({job_id: 1}, timeout=0.3) == {}
    assert 0.2 <= time.monotonic() - started < 2


async def test_tail_returns_promptly_when_a_followed_job_gets_an_event(backend: Backend) -> None:
    job_id = await new_job(backend)
    waiting = asyncio.create_task(backend.events.tail({job_id: 0}, timeout=5))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await backend.events.append(job_id, "progress", '{"p":1}')
    assert await asyncio.wait_for(waiting, 2) == {job_id: [Event(1, "progress", '{"p":1}')]}
    assert time.monotonic() - started < 1


async def test_wake_ends_a_pending_tail(backend: Backend) -> None:
    job_id = await new_job(backend)
    waiting = asyncio.create_task(backend.events.tail({job_id: 0}, timeout=5))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await backend.events.wake()
    assert await asyncio.wait_for(waiting, 2) == {}
    assert time.monotonic() - started < 1


async def test_a_follower_gets_every_event_once_and_in_order(backend: Backend) -> None:
    """Three producers append concurrently while one loop tails them, as a node does."""
    jobs = [await new_job(backend) for _ in range(3)]
    rng = random.Random(7)
    per_job = 60

    async def produce(job_id: str) -> None:
        for i in range(per_job):
            final = i == per_job - 1
            await backend.events.append(job_id, "chunk", f'{{"i":{i}}}', final=final)
            if rng.random() < 0.3:
                await asyncio.sleep(rng.uniform(0, 0.01))

    producers = asyncio.gather(*(produce(job_id) for job_id in jobs))
    positions = dict.fromkeys(jobs, 0)
    received: dict[str, list[Event]] = {job_id: [] for job_id in jobs}
    deadline = time.monotonic() + 20
    while any(pos < per_job for pos in positions.values()) and time.monotonic() < deadline:
        found = await backend.events.tail(positions, timeout=1)
        for job_id, events in found.items():
            received[job_id] += events
            positions[job_id] = events[-1].seq
    await producers
    for job_id in jobs:
        assert [e.seq for e in received[job_id]] == list(range(1, per_job + 1))
        assert received[job_id] == await backend.events.read(job_id)

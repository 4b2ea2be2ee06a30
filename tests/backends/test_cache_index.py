"""The analysis cache's back-end parts, on memory and Redis: the index, and batch appends."""

from __future__ import annotations

import asyncio

from audio_service.backends.base import Backend
from audio_service.models import JobRecord, SourceKind


async def test_index_stores_expires_and_replaces(backend: Backend) -> None:
    assert await backend.cache.get("sha256:none") is None
    await backend.cache.put("sha256:a", "job-1", 60)
    assert await backend.cache.get("sha256:a") == "job-1"
    await backend.cache.put("sha256:a", "job-2", 60)
    assert await backend.cache.get("sha256:a") == "job-2"
    await backend.cache.put("sha256:short", "job-3", 0.05)
    deadline = asyncio.get_running_loop().time() + 10
    while await backend.cache.get("sha256:short") is not None:
        assert asyncio.get_running_loop().time() < deadline, "the entry never expired"
        await asyncio.sleep(0.05)


async def test_append_many_numbers_in_order_and_stops_at_a_closed_log(backend: Backend) -> None:
    await backend.jobs.create(JobRecord("job-a", SourceKind.URL, "https://example.com/a.mp3"))
    events = [("progress", f'{{"n":{i}}}') for i in range(300)]
    assert await backend.events.append_many("job-a", events) == 300
    stored = await backend.events.read("job-a")
    assert [(e.seq, e.name, e.data) for e in stored] == [
        (i + 1, name, data) for i, (name, data) in enumerate(events)
    ]
    assert await backend.events.append("job-a", "complete", "{}", final=True) == 301
    assert await backend.events.append_many("job-a", events[:3]) is None
    assert await backend.events.last_seq("job-a") == 301

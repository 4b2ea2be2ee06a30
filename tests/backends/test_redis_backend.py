"""What only the Redis back-end promises: expiry of every key, uploads shared between
machines, and behaviour when connections to Redis fail (real Redis behind a proxy that
breaks connections, never a mock)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from audio_service.backends.redis import UPLOAD_PIECE_BYTES, RedisBackend
from audio_service.config import Settings
from audio_service.errors import BackendUnavailable, QueueFull
from audio_service.models import JobRecord, SourceKind
from audio_service.protocol import Event
from tests.backends.proxy import FaultyProxy
from tests.backends.test_events import new_job
from tests.support.server import free_port


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[FaultyProxy]:
    proxy = await FaultyProxy(redis_url).start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def proxied(proxy: FaultyProxy, redis_prefix: str) -> AsyncIterator[RedisBackend]:
    backend = RedisBackend(Settings(redis_url=proxy.url, redis_prefix=redis_prefix))
    await backend.connect()
    yield backend
    await backend.close()


async def test_every_key_has_an_expiry(redis_backend: RedisBackend, tmp_path: Path) -> None:
    job_id = await new_job(redis_backend)
    await redis_backend.events.append(job_id, "progress", "{}")
    await redis_backend.events.wake()
    await redis_backend.queue.enqueue(job_id)
    assert await redis_backend.queue.claim("w1", timeout=1) is not None
    (tmp_path / "f").write_bytes(b"RIFF")
    await redis_backend.uploads.stash(job_id, tmp_path / "f")
    keys = [k async for k in redis_backend.redis.scan_iter(f"{redis_backend.keys.prefix}:*")]
    assert len(keys) == 6, keys  # job, log, wake, queue, upload, upload budget
    for key in keys:
        assert await redis_backend.redis.pttl(key) > 0, key
    await redis_backend.retire(job_id, 30)
    retired = (redis_backend.keys.job(job_id), redis_backend.keys.log(job_id))
    for key in (*retired, redis_backend.keys.finished):
        assert 0 < await redis_backend.redis.pttl(key) <= 30_000


async def test_uploads_travel_in_pieces_to_another_machine(
    redis_settings: Settings, tmp_path: Path
) -> None:
    api, worker = RedisBackend(redis_settings), RedisBackend(redis_settings)
    try:
        payload = bytes(range(256)) * (UPLOAD_PIECE_BYTES * 2 // 256 + 7)
        source = tmp_path / "api" / "incoming.upload"
        source.parent.mkdir()
        source.write_bytes(payload)
        ref = await api.uploads.stash("job-9", source)
        assert not source.exists(), "the API node's copy is not needed any more"
        assert await api.redis.llen(api.keys.upload(ref)) == 3
        local = await worker.uploads.fetch(ref, tmp_path / "worker")
        assert local.read_bytes() == payload
        await worker.uploads.discard(ref, local)
        with pytest.raises(FileNotFoundError):
            await worker.uploads.fetch(ref, tmp_path / "worker")
    finally:
        await api.close()
        await worker.close()


async def test_append_refuses_a_job_whose_record_is_gone(redis_backend: RedisBackend) -> None:
    # Expired, or lost in a Redis restart without persistence: starting the log again at
    # seq 1 would feed subscribers events they think they already have.
    assert await redis_backend.events.append("never-created", "chunk", "{}") is None
    assert await redis_backend.events.last_seq("never-created") == 0


async def test_a_retried_append_is_applied_once(proxied: RedisBackend, proxy: FaultyProxy) -> None:
    job_id = await new_job(proxied)
    assert await proxied.events.append(job_id, "progress", "{}") == 1
    # Redis runs the append but the reply is lost with the connection; redis-py retries.
    proxy.drop_next_reply = True
    assert await proxied.events.append(job_id, "chunk", '{"t":0}') == 2
    assert proxy.dropped == 1
    assert await proxied.events.append(job_id, "chunk", '{"t":1}') == 3
    assert [e.data for e in await proxied.events.read(job_id)] == ["{}", '{"t":0}', '{"t":1}']


async def test_a_follower_loses_nothing_when_connections_drop(
    proxied: RedisBackend, proxy: FaultyProxy, redis_backend: RedisBackend
) -> None:
    job_id = await new_job(redis_backend)
    total = 40

    async def produce() -> None:
        for i in range(total):
            await redis_backend.events.append(job_id, "chunk", f'{{"i":{i}}}')
            await asyncio.sleep(0.01)
            if i % 10 == 5:
                proxy.cut_all()

    producer = asyncio.create_task(produce())
    received: list[Event] = []
    deadline = time.monotonic() + 20
    while len(received) < total and time.monotonic() < deadline:
        after = received[-1].seq if received else 0
        # A cut connection is either retried by redis-py or reported; either way the
        # follower reads on from its own position.
        with contextlib.suppress(BackendUnavailable):
            received += (await proxied.events.tail({job_id: after}, timeout=1)).get(job_id, [])
    await producer
    assert [e.seq for e in received] == list(range(1, total + 1))
    assert proxy.cut >= 2, "the proxy broke no connections: the test proved nothing"


async def test_an_unreachable_redis_fails_fast_with_backend_unavailable(
    redis_prefix: str, tmp_path: Path
) -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_prefix=redis_prefix)
    backend = RedisBackend(settings)
    job = JobRecord(job_id="j", source_kind=SourceKind.URL, source="https://a.example")
    (tmp_path / "f").write_bytes(b"x")
    calls = [
        backend.jobs.create(job),
        backend.jobs.get("j"),
        backend.jobs.update("j", progress=1),
        backend.events.append("j", "chunk", "{}"),
        backend.events.read("j"),
        backend.events.last_seq("j"),
        backend.queue.enqueue("j"),
        backend.uploads.stash("j", tmp_path / "f"),
    ]
    try:
        for call in calls:
            started = time.monotonic()
            with pytest.raises(BackendUnavailable):
                await call
            assert time.monotonic() - started < 3
        assert await backend.ping() is False
        await backend.connect()  # a node may start before Redis does
    finally:
        await backend.close()


async def test_waiting_uploads_stay_within_their_byte_budget(
    redis_settings: Settings, tmp_path: Path
) -> None:
    """Three 4.7 MB uploads added 18 MB to Redis with no worker running, for 24 h."""
    settings = redis_settings.model_copy(update={"max_stored_uploads_mb": 10})
    backend = RedisBackend(settings)
    try:
        stored = []
        for n in range(3):
            path = tmp_path / f"u{n}"
            path.write_bytes(b"\0" * (4 * 1024 * 1024))
            if n < 2:
                stored.append(await backend.uploads.stash(f"job-{n}", path))
                ttl = await backend.redis.pttl(backend.keys.upload(f"job-{n}"))
                assert 0 < ttl <= settings.upload_ttl_seconds * 1000
            else:
                with pytest.raises(QueueFull):
                    await backend.uploads.stash(f"job-{n}", path)
                assert not path.exists(), "a refused upload's file is removed"
        await backend.uploads.discard(stored[0])  # its job ended: room again
        (tmp_path / "again").write_bytes(b"\0" * (4 * 1024 * 1024))
        assert await backend.uploads.stash("job-3", tmp_path / "again") == "job-3"
    finally:
        await backend.close()


async def test_finished_jobs_beyond_the_cap_are_dropped_oldest_first(
    redis_settings: Settings,
) -> None:
    settings = redis_settings.model_copy(update={"max_retained_jobs": 3})
    backend = RedisBackend(settings)
    try:
        jobs = [await new_job(backend) for _ in range(5)]
        for job_id in jobs:
            await backend.events.append(job_id, "complete", "{}", final=True)
            await backend.retire(job_id, 3600)
        kept = [job_id for job_id in jobs if await backend.jobs.get(job_id) is not None]
        assert kept == jobs[2:]
        assert [await backend.events.last_seq(job_id) for job_id in jobs] == [0, 0, 1, 1, 1]
    finally:
        await backend.close()

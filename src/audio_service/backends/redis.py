"""The cluster back-end: job store, event log, job queue and uploads in one Redis.

Every key sits under ``settings.redis_prefix`` (see :mod:`audio_service.backends.keys`)
and carries an expiry: keys of running jobs a long one, refreshed as they progress;
finished jobs the retention time, set by :meth:`RedisBackend.retire`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from audio_service.backends import lua
from audio_service.backends.base import Backend, JobStore, UploadStore, remove_path
from audio_service.backends.cache import RedisCacheIndex
from audio_service.backends.keys import ACTIVE_TTL_SECONDS, Keys
from audio_service.backends.redis_client import COMMAND_SECONDS, connect, unavailable_as_503
from audio_service.backends.redis_log import RedisEventLog
from audio_service.backends.redis_queue import RedisJobQueue
from audio_service.config import Settings
from audio_service.errors import QueueFull
from audio_service.models import JobRecord

#: Uploads travel through Redis in pieces this large: big enough for few round trips,
#: small enough not to stall Redis (or exceed its 512 MB value limit) on one command.
UPLOAD_PIECE_BYTES = 1024 * 1024


class RedisJobStore(JobStore):
    """One hash per job; each field holds the JSON of its value, so types survive."""

    def __init__(self, redis: Redis, keys: Keys, *, ttl_ms: int) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_ms = ttl_ms
        self._update = redis.register_script(lua.UPDATE)
        self._admit = redis.register_script(lua.ADMIT)
        self._release = redis.register_script(lua.RELEASE)

    @unavailable_as_503()
    async def admit(self, client: str, limit: int) -> bool:
        return bool(await self._admit([self._keys.active(client)], [limit, self._ttl_ms]))

    @unavailable_as_503()
    async def release(self, client: str) -> None:
        await self._release([self._keys.active(client)], [])

    @unavailable_as_503()
    async def create(self, job: JobRecord) -> None:
        key = self._keys.job(job.job_id)
        fields: dict[FieldT, EncodableT] = {k: json.dumps(v) for k, v in job.to_dict().items()}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.pexpire(key, self._ttl_ms)
            await pipe.execute()

    @unavailable_as_503()
    async def get(self, job_id: str) -> JobRecord | None:
        raw = cast(dict[bytes, bytes], await self._redis.hgetall(self._keys.job(job_id)))
        if not raw:
            return None
        return JobRecord.from_dict({k.decode(): json.loads(v) for k, v in raw.items()})

    @unavailable_as_503()
    async def update(self, job_id: str, **changes: Any) -> None:
        changes["updated_at"] = time.time()
        # Enum members are StrEnums: json.dumps writes their value.
        args = [part for name, value in changes.items() for part in (name, json.dumps(value))]
        await self._update([self._keys.job(job_id)], args)


class RedisUploadStore(UploadStore):
    """Uploads kept in Redis, so that any worker can analyse a file sent to any API node.

    Only while their job waits: they expire after ``ttl_ms`` (UPLOAD_TTL_SECONDS), and
    all waiting uploads together stay within ``max_bytes`` (MAX_STORED_UPLOADS_MB): past
    it a new upload is refused (503 QUEUE_FULL) rather than pushed into Redis's memory.
    """

    def __init__(self, redis: Redis, keys: Keys, *, ttl_ms: int, max_bytes: int) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_ms = ttl_ms
        self._max_bytes = max_bytes
        self._reserve = redis.register_script(lua.RESERVE_UPLOAD)

    @unavailable_as_503()
    async def _fits(self, ref: str, size: int) -> bool:
        args: list[EncodableT] = [ref, size, self._max_bytes, self._ttl_ms]
        return bool(await self._reserve([self._keys.upload_budget], args))

    # Uploads take as long as their size needs: each piece gets the deadline, not the file.
    @unavailable_as_503(None)
    async def stash(self, job_id: str, path: Path) -> str:
        key = self._keys.upload(job_id)
        try:
            if not await self._fits(job_id, path.stat().st_size):
                raise QueueFull("uploads waiting for analysis fill the store; retry later")
            with open(path, "rb") as source:
                async with asyncio.timeout(COMMAND_SECONDS):
                    await self._redis.delete(key)
                while piece := await asyncio.to_thread(source.read, UPLOAD_PIECE_BYTES):
                    async with (
                        asyncio.timeout(COMMAND_SECONDS),
                        self._redis.pipeline(transaction=True) as pipe,
                    ):
                        pipe.rpush(key, piece)
                        pipe.pexpire(key, self._ttl_ms)
                        await pipe.execute()
        finally:
            # Ours now, whether or not it reached Redis: the caller answers 503 on failure.
            remove_path(path)
        return job_id

    @unavailable_as_503(None)
    async def fetch(self, ref: str, dest_dir: Path) -> Path:
        key = self._keys.upload(ref)
        async with asyncio.timeout(COMMAND_SECONDS):
            pieces = await self._redis.llen(key)
        if not pieces:
            raise FileNotFoundError(f"the upload {ref!r} is no longer stored")
        dest_dir.mkdir(parents=True, exist_ok=True)
        local = dest_dir / f"{ref}.upload"
        with open(local, "wb") as out:
            for index in range(pieces):
                # One piece per command keeps every reply (and Redis's output buffer) small.
                async with asyncio.timeout(COMMAND_SECONDS):
                    reply = await self._redis.lrange(key, index, index)
                (piece,) = cast(list[bytes], reply)
                await asyncio.to_thread(out.write, piece)
        return local

    @unavailable_as_503()
    async def discard(self, ref: str, local: Path | None = None) -> None:
        if local is not None:
            remove_path(local)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.upload(ref))
            pipe.hdel(self._keys.upload_budget, ref)
            await pipe.execute()


class RedisBackend(Backend):
    """``REDIS_URL=redis://...``: every API node and worker shares this state."""

    def __init__(
        self,
        settings: Settings,
        *,
        reclaim_after: float | None = None,
        active_ttl: float = ACTIVE_TTL_SECONDS,
    ) -> None:
        """``reclaim_after``: seconds without keepalive before a job goes to another worker
        (default ``settings.job_reclaim_seconds``); ``active_ttl``: expiry of running jobs."""
        keys = Keys(settings.redis_prefix)
        self.redis = connect(settings.redis_url)
        ttl_ms = round(active_ttl * 1000)
        self.keys = keys
        self.jobs = RedisJobStore(self.redis, keys, ttl_ms=ttl_ms)
        self.events = RedisEventLog(self.redis, keys, ttl_ms=ttl_ms)
        self.queue = self._queue = RedisJobQueue(
            self.redis,
            keys,
            reclaim_after=settings.job_reclaim_seconds if reclaim_after is None else reclaim_after,
            ttl_ms=ttl_ms,
        )
        self.uploads = RedisUploadStore(
            self.redis,
            keys,
            ttl_ms=min(ttl_ms, round(settings.upload_ttl_seconds * 1000)),
            max_bytes=round(settings.max_stored_uploads_mb * 1024 * 1024),
        )
        self._max_retained = settings.max_retained_jobs
        self._retire = self.redis.register_script(lua.RETIRE)
        self._rate_hit = self.redis.register_script(lua.RATE_HIT)
        self.cache = RedisCacheIndex(self.redis, keys)

    async def connect(self) -> None:
        # Best effort: a node may start while Redis is down, and claim() makes the group
        # whenever it is missing anyway.
        with contextlib.suppress(RedisError, TimeoutError):
            async with asyncio.timeout(COMMAND_SECONDS):
                await self._queue.ensure_group()

    async def close(self) -> None:
        with contextlib.suppress(RedisError, TimeoutError):
            async with asyncio.timeout(COMMAND_SECONDS):
                await self._queue.forget_consumers()
        await self.redis.aclose()

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(COMMAND_SECONDS):
                return bool(await self.redis.ping())
        except (RedisError, TimeoutError):
            return False

    @unavailable_as_503()
    async def hit_rate_limit(self, client: str, per_minute: int) -> float | None:
        member = secrets.token_hex(8)
        wait_ms = await self._rate_hit([self.keys.rate(client)], [per_minute, member])
        return float(wait_ms) / 1000

    @unavailable_as_503()
    async def retire(self, job_id: str, retention_seconds: float) -> None:
        retention_ms = max(1, round(retention_seconds * 1000))
        args: list[EncodableT] = [job_id, retention_ms, self._max_retained, self.keys.prefix]
        await self._retire([self.keys.finished], args)

"""The job queue on a Redis stream with a consumer group.

XREADGROUP hands each job to one worker and records it as pending for that worker. A
running worker keeps its entry fresh (XCLAIM to itself resets the entry's idle time); an
entry left idle longer than ``reclaim_after`` belongs to a worker that died, and the next
worker to ask takes it over with XAUTOCLAIM. The group's delivery counter is the attempt
number; the runner ends a job that has used up its attempts. Entries are acknowledged and
deleted when their job is done, so the stream holds only queued and running jobs.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from audio_service.backends import lua
from audio_service.backends.base import Claim, JobQueue
from audio_service.backends.keys import QUEUE_GROUP, Keys
from audio_service.backends.redis_client import (
    BLOCKING_SECONDS,
    block_ms,
    entries,
    streams,
    unavailable_as_503,
)

logger = logging.getLogger(__name__)

#: XAUTOCLAIM calls per claim, each looking at up to 10 pending entries (Redis's own cap
#: for COUNT 1); the cursor carries on from there at the next claim.
_RECLAIM_STEPS = 10


class RedisJobQueue(JobQueue):
    def __init__(self, redis: Redis, keys: Keys, *, reclaim_after: float, ttl_ms: int) -> None:
        self._redis = redis
        self._keys = keys
        self._key = keys.queue
        self._reclaim_ms = round(reclaim_after * 1000)
        self._ttl_ms = ttl_ms
        self._settle = redis.register_script(lua.SETTLE)
        self._fence = redis.register_script(lua.FENCE)
        self._cursor = "0-0"
        self._consumers: set[str] = set()

    @unavailable_as_503()
    async def enqueue(self, job_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self._key, {"job": job_id})
            pipe.pexpire(self._key, self._ttl_ms)
            await pipe.execute()

    @unavailable_as_503()
    async def depth(self) -> int:
        # Entries are deleted when their job is done: the stream holds queued and running.
        return int(await self._redis.xlen(self._key))

    @unavailable_as_503(BLOCKING_SECONDS)
    async def claim(self, consumer: str, timeout: float) -> Claim | None:
        self._consumers.add(consumer)
        try:
            return await self._claim(consumer, timeout)
        except ResponseError as exc:
            # The queue expired while idle, or Redis restarted empty: make it again.
            if "NOGROUP" not in str(exc):
                raise
        await self.ensure_group()
        return await self._claim(consumer, timeout)

    async def _claim(self, consumer: str, timeout: float) -> Claim | None:
        claim = await self._reclaim(consumer)
        if claim is not None:
            return claim
        # Wake up at least twice per reclaim period so dead workers' jobs wait little longer.
        reply = await self._redis.xreadgroup(
            QUEUE_GROUP,
            consumer,
            {self._key: ">"},
            count=1,
            block=block_ms(timeout, cap=min(self._reclaim_ms / 2000, 10.0)),
        )
        for _key, new in streams(reply):
            for entry_id, fields in new:
                return await self._make_claim(fields, entry_id, consumer)
        return None

    async def _reclaim(self, consumer: str) -> Claim | None:
        for _ in range(_RECLAIM_STEPS):
            cursor, claimed, _deleted = await self._redis.xautoclaim(
                self._key, QUEUE_GROUP, consumer, self._reclaim_ms, self._cursor, count=1
            )
            self._cursor = cursor.decode()
            if claimed := entries(claimed):
                entry_id, fields = claimed[0]
                claim = await self._make_claim(fields, entry_id, consumer)
                logger.warning("reclaimed job %s (attempt %d)", claim.job_id, claim.attempt)
                return claim
            if self._cursor == "0-0":
                return None
        return None

    async def _make_claim(
        self, fields: dict[bytes, bytes], entry_id: bytes, consumer: str
    ) -> Claim:
        """Fence the job for this claim (see ``lua.FENCE``); the delivery count is the attempt."""
        job_id = fields[b"job"].decode()
        fence, deliveries = await self._fence(
            [self._key, self._keys.job(job_id)], [QUEUE_GROUP, consumer, entry_id]
        )
        # The handle names the entry and its consumer: keepalive and done act only as the owner.
        handle = f"{entry_id.decode()} {consumer}"
        return Claim(
            job_id=job_id, attempt=max(1, int(deliveries)), handle=handle, fence=int(fence)
        )

    @unavailable_as_503()
    async def keepalive(self, claim: Claim) -> bool:
        if await self._settle_claim(claim, "keep"):
            return True
        logger.warning("job %s was reclaimed by another worker", claim.job_id)
        return False

    @unavailable_as_503()
    async def done(self, claim: Claim) -> None:
        await self._settle_claim(claim, "done")

    async def _settle_claim(self, claim: Claim, how: str) -> bool:
        entry_id, _, consumer = claim.handle.partition(" ")
        try:
            return bool(await self._settle([self._key], [QUEUE_GROUP, consumer, entry_id, how]))
        except ResponseError as exc:
            # The queue is gone (Redis restarted empty): so is the entry.
            if "NOGROUP" not in str(exc):
                raise
            return False

    async def ensure_group(self) -> None:
        """Create the queue and its group; entries queued before the group still count."""
        try:
            await self._redis.xgroup_create(self._key, QUEUE_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        await self._redis.pexpire(self._key, self._ttl_ms)

    async def forget_consumers(self) -> None:
        """Drop this instance's consumers from the group, unless they still hold jobs."""
        for consumer in self._consumers:
            pending = await self._redis.xpending_range(
                self._key, QUEUE_GROUP, min="-", max="+", count=1, consumername=consumer
            )
            if not pending:
                await self._redis.xgroup_delconsumer(self._key, QUEUE_GROUP, consumer)
        self._consumers.clear()

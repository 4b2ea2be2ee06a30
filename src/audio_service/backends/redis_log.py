"""The event log on Redis: one stream per job, whose entry ids are the seqs (``0-<seq>``).

Because the id *is* the seq, "events after seq k" is simply "entries after id ``0-k``":
XRANGE replays, and XREAD BLOCK tails any number of jobs in one call, resuming exactly
where the caller's positions say. Nothing is published on the side (no pub/sub), so a
node that loses its connection loses nothing: it reads on from its positions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import Collection, Mapping
from typing import Any

from redis.asyncio import Redis

from audio_service.backends import lua
from audio_service.backends.base import EventLog, LogHead
from audio_service.backends.keys import WAKE_TTL_SECONDS, Keys
from audio_service.backends.redis_client import (
    BLOCKING_SECONDS,
    block_ms,
    entries,
    streams,
    unavailable_as_503,
)
from audio_service.models import new_epoch
from audio_service.protocol import Event

#: Most entries one tail takes from one job's stream; the rest come on the next call.
_TAIL_BATCH = 128
#: Appends per pipeline in :meth:`RedisEventLog.append_many`.
_APPEND_BATCH = 256
#: After a tail that found events, the next one reads no sooner than this: what is appended
#: meanwhile comes in one XREAD rather than one XREAD per event. Under a steady trickle
#: (100 jobs x 20 chunks/s) the XREAD per event, and Redis registering the blocked read on
#: every followed stream, were a third of the cluster's CPU per delivered event; the price
#: is at most this much latency (see docs/BENCHMARKS.md, "Cluster cost").
LINGER_SECONDS = 0.005


def _seq(entry_id: bytes) -> int:
    return int(entry_id[2:])


def _event(entry_id: bytes, fields: dict[bytes, bytes]) -> Event:
    return Event(_seq(entry_id), fields[b"n"].decode(), fields[b"d"].decode())


class RedisEventLog(EventLog):
    def __init__(self, redis: Redis, keys: Keys, *, ttl_ms: int) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_ms = ttl_ms
        self._append = redis.register_script(lua.APPEND)
        # Tokens that tell this process's appends apart (see lua.APPEND).
        self._instance = secrets.token_hex(6)
        self._tokens = itertools.count()
        self._wake_key = keys.wake(self._instance)
        # The last wake entry seen: a wake() between two tails still ends the next one.
        self._wake_seen = "0-0"
        #: When (event loop time) the last tail that found events returned.
        self._found_at = -LINGER_SECONDS

    @unavailable_as_503()
    async def append(
        self, job_id: str, name: str, data: str, *, final: bool = False, fence: int = 0
    ) -> int | None:
        token = f"{self._instance}.{next(self._tokens)}"
        keys = [self._keys.log(job_id), self._keys.job(job_id)]
        args = [name, data, token, "1" if final else "0", self._ttl_ms, fence, new_epoch()]
        seq = await self._append(keys, args)
        return None if seq is None else int(seq)

    @unavailable_as_503()
    async def append_many(self, job_id: str, events: list[tuple[str, str]]) -> int | None:
        # The same script per event, pipelined: one round trip per batch instead of per
        # event, and Redis still runs them one after the other, in order.
        keys = [self._keys.log(job_id), self._keys.job(job_id)]
        seq: int | None = None
        for start in range(0, len(events), _APPEND_BATCH):
            async with self._redis.pipeline(transaction=False) as pipe:
                for name, data in events[start : start + _APPEND_BATCH]:
                    token = f"{self._instance}.{next(self._tokens)}"
                    # No fence (the cache's replay runs under no claim); a fresh epoch in
                    # case this append creates the log.
                    args: list[str | int] = [name, data, token, "0", self._ttl_ms, 0, new_epoch()]
                    await self._append(keys, args, client=pipe)
                replies = await pipe.execute()
            for reply in replies:
                if reply is None:
                    return None
                seq = int(reply)
        return seq

    @unavailable_as_503()
    async def read(self, job_id: str, after: int = 0, limit: int | None = None) -> list[Event]:
        if limit is not None and limit <= 0:
            return []
        reply = await self._redis.xrange(
            self._keys.log(job_id), min=f"(0-{after}", max="+", count=limit
        )
        return [_event(entry_id, fields) for entry_id, fields in entries(reply)]

    @unavailable_as_503()
    async def last_seq(self, job_id: str) -> int:
        last = entries(await self._redis.xrevrange(self._keys.log(job_id), count=1))
        return _seq(last[0][0]) if last else 0

    @unavailable_as_503()
    async def heads(self, job_ids: Collection[str]) -> dict[str, LogHead]:
        ids = list(job_ids)
        async with self._redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(self._keys.job(job_id), ["status", "epoch"])
                pipe.xrevrange(self._keys.log(job_id), count=1)
            replies = await pipe.execute()
        found = {}
        for job_id, (status, epoch), last in zip(ids, replies[::2], replies[1::2], strict=True):
            if status is not None:  # the record exists
                newest = entries(last)
                found[job_id] = LogHead(
                    json.loads(epoch) if epoch else "", _seq(newest[0][0]) if newest else 0
                )
        return found

    @unavailable_as_503(BLOCKING_SECONDS)
    async def tail(self, positions: Mapping[str, int], timeout: float) -> dict[str, list[Event]]:
        loop = asyncio.get_running_loop()
        linger = self._found_at + LINGER_SECONDS - loop.time()
        if linger > 0:
            await asyncio.sleep(linger)
        jobs = {self._keys.log(job_id).encode(): job_id for job_id in positions}
        from_ids: dict[Any, Any] = {self._wake_key: self._wake_seen}
        from_ids.update({key: f"0-{positions[job_id]}" for key, job_id in jobs.items()})
        reply = await self._redis.xread(from_ids, count=_TAIL_BATCH, block=block_ms(timeout))
        found: dict[str, list[Event]] = {}
        for key, new in streams(reply):
            job_id = jobs.get(key)
            if job_id is None:
                self._wake_seen = new[-1][0].decode()
            elif new:
                found[job_id] = [_event(entry_id, fields) for entry_id, fields in new]
        if found:
            self._found_at = loop.time()
        return found

    @unavailable_as_503()
    async def wake(self) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self._wake_key, {"w": 1}, maxlen=1, approximate=False)
            pipe.expire(self._wake_key, WAKE_TTL_SECONDS)
            await pipe.execute()

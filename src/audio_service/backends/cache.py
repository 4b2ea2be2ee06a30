"""The analysis cache index: content key -> the finished job whose log holds its analysis.

Keys are made by ``jobs/cache_keys.py`` (an upload's sha256, a media URL's normalised form).
The index only points at a job; the events themselves stay in that job's log for the
retention time, so the cache costs one small entry per analysed song, on either back-end.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import TYPE_CHECKING

from audio_service.backends.keys import Keys

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: Redis commands of the index take no longer than this (a cache must never slow a job).
_COMMAND_SECONDS = 2.0


class CacheIndex(ABC):
    @abstractmethod
    async def get(self, key: str) -> str | None:
        """The job id stored under ``key``, if it has not expired."""

    @abstractmethod
    async def put(self, key: str, job_id: str, ttl_seconds: float) -> None: ...


class MemoryCacheIndex(CacheIndex):
    """Bounded like the embedded back-end's retained jobs, oldest entries first out."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[0]

    async def put(self, key: str, job_id: str, ttl_seconds: float) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (job_id, time.monotonic() + ttl_seconds)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class RedisCacheIndex(CacheIndex):
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def get(self, key: str) -> str | None:
        async with asyncio.timeout(_COMMAND_SECONDS):
            value = await self._redis.get(self._keys.cache(key))
        return value.decode() if isinstance(value, bytes) else value

    async def put(self, key: str, job_id: str, ttl_seconds: float) -> None:
        async with asyncio.timeout(_COMMAND_SECONDS):
            await self._redis.set(
                self._keys.cache(key), job_id, px=max(1, round(ttl_seconds * 1000))
            )

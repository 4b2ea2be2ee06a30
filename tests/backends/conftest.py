"""The back-ends under test: every contract test runs against memory and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from audio_service.backends.base import Backend
from audio_service.backends.memory import MemoryBackend
from audio_service.backends.redis import RedisBackend
from audio_service.config import Settings

#: Short enough for tests to wait it out, long enough that a busy test process does not
#: miss its own keepalives.
RECLAIM_SECONDS = 1.0


@pytest.fixture(params=["memory", "redis"])
def settings(request: pytest.FixtureRequest) -> Settings:
    # Explicit values and no .env file: a REDIS_URL in the developer's .env or shell must
    # not turn the memory run into a second Redis run.
    if request.param == "memory":
        return Settings(_env_file=None, redis_url="memory://")
    return Settings(
        _env_file=None,
        redis_url=request.getfixturevalue("redis_url"),
        redis_prefix=request.getfixturevalue("redis_prefix"),
    )


def make_backend(settings: Settings) -> Backend:
    if not settings.embedded:
        return RedisBackend(settings, reclaim_after=RECLAIM_SECONDS)
    return MemoryBackend()


@pytest.fixture
async def backend(settings: Settings) -> AsyncIterator[Backend]:
    backend = make_backend(settings)
    await backend.connect()
    yield backend
    await backend.close()


@pytest.fixture
def redis_settings(redis_url: str, redis_prefix: str) -> Settings:
    return Settings(_env_file=None, redis_url=redis_url, redis_prefix=redis_prefix)


@pytest.fixture
async def redis_backend(redis_settings: Settings) -> AsyncIterator[RedisBackend]:
    backend = RedisBackend(redis_settings, reclaim_after=RECLAIM_SECONDS)
    await backend.connect()
    yield backend
    await backend.close()

"""Fixtures shared by every suite, and the rule that CI never skips silently."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis, or a skip that says how to get one."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(
            f"Redis is not reachable at {REDIS_URL} ({exc}); install redis-server "
            "(scripts/test starts one) or set TEST_REDIS_URL"
        )
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test-{secrets.token_hex(4)}"
    yield prefix
    delete_prefix(redis_url, prefix)


def delete_prefix(redis_url: str, prefix: str) -> None:
    """Delete every key under ``prefix:``."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With REQUIRE_NO_SKIPS=1 (CI), a skipped test fails the run: CI must run them all."""
    if os.environ.get("REQUIRE_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(
            f"REQUIRE_NO_SKIPS=1: {len(skipped)} test(s) were skipped; CI must run them all",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

"""Servers configured the way the public internet will meet them.

``strict``: the defaults that matter for hostile input (private URLs refused, small limits
so the tests stay fast), shared by the suites that only send input and read answers.
Suites that need other settings, or both back-ends, start their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import ServiceProcess, run_server, run_worker

BACKENDS = ["memory", "redis"]

#: Settings of the ``strict`` server (tests read them instead of repeating numbers).
STRICT = {
    "allow_private_urls": "false",
    "max_upload_mb": 1,
    "max_audio_duration": 20,
    "max_subscriptions_per_socket": 5,
    "socket_events_per_second": 20,
}


@pytest.fixture(scope="session")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with run_server(tmp_path_factory.mktemp("strict"), **STRICT) as server:
        yield server


@contextlib.contextmanager
def cluster(backend: str, tmp: Path, redis_url: str | None, **settings: Any) -> Iterator[Any]:
    """One API node on ``backend``; with Redis also one worker, under a fresh key prefix.

    Yields ``(server, prefix)``; the prefix is empty for the memory back-end.
    """
    if backend == "memory":
        with run_server(tmp, **settings) as server:
            yield server, ""
        return
    assert redis_url is not None
    prefix = f"test-{secrets.token_hex(4)}"
    settings |= {"redis_url": redis_url, "redis_prefix": prefix}
    with run_server(tmp, **settings) as server, run_worker(tmp, **settings):
        yield server, prefix


async def job_end(base_url: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the job until it has finished; return its record."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as http:
        while True:
            job: dict[str, Any] = (await http.get(f"{base_url}/api/jobs/{job_id}")).json()
            if job["status"] in ("complete", "error", "cancelled"):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")
            await asyncio.sleep(0.05)

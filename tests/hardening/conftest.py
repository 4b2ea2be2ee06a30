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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.client import Recorder
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


@dataclass
class Cluster:
    server: ServiceProcess
    #: The analysis worker (Redis back-end only).
    worker: ServiceProcess | None = None
    #: The Redis key prefix of this cluster (Redis back-end only).
    prefix: str = ""


@contextlib.contextmanager
def cluster(backend: str, tmp: Path, redis_url: str | None, **settings: Any) -> Iterator[Cluster]:
    """One API node on ``backend``; with Redis also one worker, under a fresh key prefix."""
    if backend == "memory":
        with run_server(tmp, **settings) as server:
            yield Cluster(server)
        return
    assert redis_url is not None
    prefix = f"test-{secrets.token_hex(4)}"
    settings |= {"redis_url": redis_url, "redis_prefix": prefix}
    with run_server(tmp, **settings) as server, run_worker(tmp, **settings) as worker:
        yield Cluster(server, worker, prefix)


#: Settings of the ``delivery`` servers: jobs stream live (paced) and backlogs are short.
DELIVERY = {
    "stream_pace_seconds": 0.02,
    "max_socket_backlog": 100,
    "max_subscriptions_per_socket": 5,
    "socket_events_per_second": 20,
    "worker_concurrency": 3,
}


@pytest.fixture(scope="session", params=BACKENDS)
def delivery(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """A server per back-end for the fault tests of delivery (slow consumers, chaos)."""
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    tmp = tmp_path_factory.mktemp(f"delivery-{request.param}")
    with cluster(request.param, tmp, redis_url, **DELIVERY) as running:
        yield running.server


async def job_end(base_url: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the job until it has finished; return its record."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as http:
        while True:
            response = await http.get(f"{base_url}/api/jobs/{job_id}")
            job: dict[str, Any] = response.json()
            assert "status" in job, f"GET job {job_id}: {response.status_code} {job}"
            if job["status"] in ("complete", "error", "cancelled"):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")
            await asyncio.sleep(0.05)


async def pings(client: Recorder, stop: asyncio.Event, into: list[float]) -> None:
    """Ack round trips of a well-behaved client, every 60 ms (inside its event rate)."""
    while not stop.is_set():
        started = time.perf_counter()
        ack = await client.sio.call("unsubscribe", {"job_id": "no-such-job"}, timeout=10)
        into.append(time.perf_counter() - started)
        assert ack["code"] == "JOB_NOT_FOUND"
        await asyncio.sleep(0.06)

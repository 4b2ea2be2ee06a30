"""Helpers for the multi-process tests: several API nodes and workers on one Redis."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from audio_service.backends.keys import QUEUE_GROUP, Keys
from tests.conftest import delete_prefix
from tests.support.client import chunks, seqs, upload
from tests.support.server import ServiceProcess
from tests.support.signals import music_wav

Events = list[tuple[str, dict[str, Any]]]
#: 20 s of audio: 20 chunks, each held back this long, so a job streams for a few seconds.
SECONDS = 20
PACE = 0.1


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return music_wav(tmp_path_factory.mktemp("audio") / "song.wav", SECONDS, seed=11)


@pytest.fixture(scope="module")
def module_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix shared by the processes of one module's cluster; cleaned afterwards."""
    prefix = f"test-{secrets.token_hex(4)}"
    yield prefix
    delete_prefix(redis_url, prefix)


async def create_job(node: ServiceProcess, path: Path) -> str:
    response = await upload(node.url, path)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def assert_whole_timeline(events: Events, *, ending: str = "complete") -> None:
    """Seqs 1..n without gaps or repeats, each second's chunk once, and the given ending."""
    assert seqs(events) == list(range(1, len(events) + 1))
    assert events[-1][0] == ending, events[-1]
    stamps = [c["timestamp"] for c in chunks(events)]
    assert len(stamps) == len(set(stamps)), f"a chunk was delivered twice: {stamps}"
    if ending == "complete":
        assert stamps == [float(i) for i in range(SECONDS)]
    else:
        assert stamps == sorted(stamps)


def worker_holding(redis_url: str, prefix: str, workers: list[ServiceProcess]) -> ServiceProcess:
    """The worker process that has a job claimed (consumer names end with the pid)."""
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for entry in client.xpending_range(Keys(prefix).queue, QUEUE_GROUP, "-", "+", 10):
                pid = int(entry["consumer"].decode().rsplit("-", 1)[1])
                for worker in workers:
                    if worker.process.pid == pid:
                        return worker
            time.sleep(0.05)
    finally:
        client.close()
    raise AssertionError("no worker claimed the job")


async def health(node: ServiceProcess) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(node.url + "/health")).status_code


def wait_for_workers(workers: list[ServiceProcess], timeout: float = 120) -> None:
    """Until every worker is warm and asks for work, so that a test's clock can start.

    A worker warms its forkserver (analysis modules, filter banks) first: seconds at rest, much
    longer on a loaded machine. It says "ready" in its log at level INFO.
    """
    deadline = time.monotonic() + timeout
    while not all(" ready" in worker.output() for worker in workers):
        if time.monotonic() > deadline:
            raise AssertionError(f"workers not ready in {timeout}s (run them with LOG_LEVEL=INFO)")
        time.sleep(0.1)

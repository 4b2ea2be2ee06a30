"""Resource hygiene: after 10,000 connect/subscribe/disconnect cycles and 200 finished jobs
past their retention time, memory, descriptors, temp files and Redis keys are back near
where they started.

The cycles: 1,000 over fresh websockets (half closed properly, half cut off), and 9,000
Socket.IO sessions opened and closed over 50 kept websockets, which is where per-socket
state lives (handlers, hub, python-socketio) at a third of the cost of a TCP handshake.
They subscribe to the jobs while those are created, run and expire, and to unknown ids.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
import redis

from tests.conftest import REDIS_URL
from tests.hardening.conftest import BACKENDS, Cluster, cluster
from tests.hardening.rawsocket import RawSocket
from tests.support.server import ServiceProcess
from tests.support.signals import music_wav

SEED = 7
JOBS = 200
FRESH_CYCLES = 1_000
SESSION_CYCLES = 9_000
CONCURRENCY = 50
RETENTION = 1.0
#: Growth of the API process's resident memory tolerated after the workload.
RSS_TOLERANCE = 24 * 1024 * 1024


@pytest.fixture(scope="module", params=BACKENDS)
def hygienic(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    tmp = tmp_path_factory.mktemp(f"hygiene-{request.param}")
    settings = {"job_retention_seconds": RETENTION, "worker_concurrency": 3}
    with cluster(request.param, tmp, redis_url, **settings) as running:
        yield running


def _fds(process: ServiceProcess | None) -> tuple[int, int]:
    """Open descriptors of ``process``: all but its Redis connections, and those.

    redis-py keeps a pool that grows to the peak number of commands in flight: bounded by
    concurrency, not by how many cycles ran, so it is reported apart.
    """
    if process is None:
        return 0, 0
    proc = psutil.Process(process.process.pid)
    redis_port = urlsplit(REDIS_URL).port or 6379
    to_redis = sum(1 for c in proc.net_connections() if c.raddr and c.raddr.port == redis_port)
    return proc.num_fds() - to_redis, to_redis


def _files(server: ServiceProcess) -> list[str]:
    root = server.log.parent
    return [f for _, _, files in os.walk(root) for f in files if not f.endswith(".log")]


def _redis_keys(prefix: str) -> int:
    if not prefix:
        return 0
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sum(1 for _ in client.scan_iter(match=f"{prefix}:*", count=1000))
    finally:
        client.close()


async def _gauges(server: ServiceProcess) -> dict[str, float]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(server.url + "/metrics")).text
    names = ("connected_sockets", "subscriptions", "followed_jobs")
    found = {}
    for name in names:
        match = re.search(rf"^audio_service_{name} ([0-9.e+-]+)$", text, re.MULTILINE)
        found[name] = float(match.group(1)) if match else -1.0
    return found


async def _snapshot(running: Cluster) -> dict[str, Any]:
    fds, pooled = _fds(running.server)
    return {
        "rss": psutil.Process(running.server.process.pid).memory_info().rss,
        "fds": fds,
        "redis_connections": pooled,
        "worker_fds": sum(_fds(running.worker)),
        "files": len(_files(running.server)),
        "redis_keys": _redis_keys(running.prefix),
        **await _gauges(running.server),
    }


async def _jobs(server: ServiceProcess, wav: Path, count: int, into: list[str]) -> None:
    """Create ``count`` jobs, ten at a time, appending their ids to ``into``."""
    data = wav.read_bytes()
    async with httpx.AsyncClient(timeout=30) as http:

        async def one() -> None:
            response = await http.post(server.url + "/api/analyze", files={"file": ("a.wav", data)})
            into.append(response.json()["job_id"])

        for _ in range(count // 10):
            await asyncio.gather(*(one() for _ in range(10)))


async def _ended(server: ServiceProcess, job_id: str) -> str:
    """How a job ended: its status, or "expired" once its retention has run out."""
    async with httpx.AsyncClient() as http:
        while True:
            response = await http.get(f"{server.url}/api/jobs/{job_id}")
            if response.status_code == 404:
                return "expired"
            status: str = response.json()["status"]
            if status in ("complete", "error", "cancelled"):
                return status
            await asyncio.sleep(0.05)


async def _fresh_cycles(url: str, count: int, pick: Callable[[], str]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def cycle(i: int) -> None:
        async with gate:
            raw = await RawSocket.open(url)
            await raw.call("subscribe", {"job_id": pick()})
            if i % 2:
                await raw.close()
            else:
                raw.ws.transport.abort()

    await asyncio.gather(*(cycle(i) for i in range(count)))


async def _session_cycles(url: str, count: int, pick: Callable[[], str]) -> None:
    async def cycles(n: int) -> None:
        raw = await RawSocket.open(url)
        for _ in range(n):
            await raw.call("subscribe", {"job_id": pick()})
            await raw.send("41")  # leave the namespace: the Socket.IO session ends
            await raw.send("40")  # and a new one begins, with a new sid
            while not (await raw.recv(10)).startswith('42["connected"'):
                pass
        await raw.close()

    await asyncio.gather(*(cycles(count // CONCURRENCY) for _ in range(CONCURRENCY)))


async def _settled(running: Cluster, baseline: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Poll until what must return to zero (or baseline) has, or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        now = await _snapshot(running)
        zero = [now[k] for k in ("files", "connected_sockets", "subscriptions", "followed_jobs")]
        if (zero == [0, 0, 0, 0] and now["redis_keys"] <= baseline["redis_keys"]) or (
            time.monotonic() > deadline
        ):
            return now
        await asyncio.sleep(0.2)


async def test_resources_return_to_baseline(hygienic: Cluster, tmp_path: Path) -> None:
    server = hygienic.server
    rng = random.Random(SEED)
    wav = music_wav(tmp_path / "tiny.wav", 0.5)
    # Warm up every code path once, so the baseline includes imports and caches.
    warm: list[str] = []
    await _jobs(server, wav, 10, warm)
    for job_id in warm:
        # A half-second job may finish and outlive its 1 s retention before it is polled.
        assert await _ended(server, job_id) in ("complete", "expired")
    await _fresh_cycles(server.url, 100, lambda: rng.choice(warm))
    await _session_cycles(server.url, 100, lambda: rng.choice(warm))
    await asyncio.sleep(RETENTION + 0.5)
    baseline = await _settled(hygienic, {"redis_keys": 10**9}, timeout=15)

    started = time.monotonic()
    jobs: list[str] = []
    creating = asyncio.create_task(_jobs(server, wav, JOBS, jobs))

    def pick() -> str:
        # Pending, running, finished and expired jobs as they come, and unknown ids.
        return rng.choice(jobs) if jobs and rng.random() < 0.8 else f"unknown-{rng.random()}"

    await _fresh_cycles(server.url, FRESH_CYCLES, pick)
    await _session_cycles(server.url, SESSION_CYCLES, pick)
    await creating
    ends = Counter([await _ended(server, job_id) for job_id in jobs])
    assert set(ends) <= {"complete", "expired"} and ends["expired"] > 0, ends
    workload = time.monotonic() - started
    final = await _settled(hygienic, baseline, timeout=15)

    print(
        f"\nhygiene ({hygienic.prefix or 'memory'}): {JOBS} jobs, "
        f"{FRESH_CYCLES + SESSION_CYCLES} cycles in {workload:.1f} s; "
        f"RSS {baseline['rss'] / 2**20:.1f} -> {final['rss'] / 2**20:.1f} MiB, "
        f"fds {baseline['fds']} -> {final['fds']} (+ Redis pool {baseline['redis_connections']}"
        f" -> {final['redis_connections']}), worker fds {baseline['worker_fds']} -> "
        f"{final['worker_fds']}, temp files {baseline['files']} -> {final['files']}, "
        f"Redis keys {baseline['redis_keys']} -> {final['redis_keys']}"
    )
    assert final["files"] == 0
    assert (final["connected_sockets"], final["subscriptions"], final["followed_jobs"]) == (0, 0, 0)
    assert final["redis_keys"] <= baseline["redis_keys"]
    assert final["fds"] <= baseline["fds"] + 2
    assert final["worker_fds"] <= baseline["worker_fds"] + 2
    assert final["redis_connections"] <= CONCURRENCY + 20
    assert final["rss"] - baseline["rss"] < RSS_TOLERANCE

    # Every id carries 128 random bits; expired ids get the unknown id's answer.
    assert len(set(jobs)) == JOBS
    assert {len(base64.urlsafe_b64decode(j + "==")) for j in jobs} == {16}
    async with httpx.AsyncClient() as http:
        expired = await http.get(f"{server.url}/api/jobs/{jobs[0]}")
        unknown = await http.get(f"{server.url}/api/jobs/{'A' * 22}")
    assert expired.status_code == unknown.status_code == 404
    assert expired.json() == unknown.json()
    raw = await RawSocket.open(server.url)
    try:
        # The refusal names the id it refuses (so a client following several jobs can tell
        # them apart); apart from that echo, an expired id and an unknown one look the same.
        expired_ack = (await raw.call("subscribe", {"job_id": jobs[0]}))[0]
        unknown_ack = (await raw.call("subscribe", {"job_id": "A" * 22}))[0]
        assert expired_ack.pop("job_id") == jobs[0]
        assert unknown_ack.pop("job_id") == "A" * 22
        assert expired_ack == unknown_ack
    finally:
        await raw.close()

"""Redis restarts mid-job: API nodes answer 503 meanwhile, then everyone carries on alone.

The test runs its own redis-server. The restart keeps the data (``SHUTDOWN SAVE``, then the
same ``--dir``), as a deployment with persistence does; docs/ARCHITECTURE.md says why a
Redis that forgets everything cannot keep promises about jobs it no longer knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.cluster.conftest import PACE, assert_whole_timeline, create_job, health
from tests.support.client import Recorder, upload
from tests.support.server import free_port, run_server, run_worker


@contextlib.contextmanager
def redis_server(data_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``redis-server`` on ``port`` keeping its dump in ``data_dir``; stopped on exit."""
    log = open(data_dir / f"redis-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(data_dir), "--daemonize", "no"]
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        client.close()
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)
        log.close()


async def test_jobs_survive_a_redis_restart_and_nodes_recover_alone(
    tmp_path: Path, wav: Path
) -> None:
    port = free_port()
    data_dir = tmp_path / "redis"
    data_dir.mkdir()
    settings = {
        "redis_url": f"redis://127.0.0.1:{port}/0",
        "redis_prefix": "restart",
        "stream_pace_seconds": PACE,
        "job_reclaim_seconds": 2.0,
    }
    async with contextlib.AsyncExitStack() as stack:
        first = stack.enter_context(redis_server(data_dir, port))
        a = stack.enter_context(run_server(tmp_path, **settings))
        b = stack.enter_context(run_server(tmp_path, **settings))
        stack.enter_context(run_worker(tmp_path, **settings))
        on_a, on_b = await Recorder(a.url).connect(), await Recorder(b.url).connect()
        stack.push_async_callback(on_a.close)
        stack.push_async_callback(on_b.close)
        job_id = await create_job(a, wav)
        await on_a.subscribe(job_id)
        await on_b.subscribe(job_id)
        while sum(name == "chunk" for name, _ in on_a.events[job_id]) < 4:
            await asyncio.sleep(0.02)

        redis.Redis(port=port).shutdown(save=True)
        first.wait(10)
        started = time.monotonic()
        refused = await upload(a.url, wav)
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "BACKEND_UNAVAILABLE"
        assert time.monotonic() - started < 5, "job creation must not hang while Redis is down"
        assert await health(b) == 503
        await asyncio.sleep(1.5)
        stack.enter_context(redis_server(data_dir, port))

        seen_a = await on_a.wait_end(job_id, timeout=60)
        seen_b = await on_b.wait_end(job_id, timeout=60)
        assert_whole_timeline(seen_a, ending=seen_a[-1][0])
        assert seen_b == seen_a
        # Neither node nor the worker was restarted: they reconnected by themselves.
        assert (await health(a), await health(b)) == (200, 200)
        again = await create_job(b, wav)
        await on_a.subscribe(again)
        assert_whole_timeline(await on_a.wait_end(again, timeout=60))
    # The worker's job failed with Redis; the queue handed it out again once Redis was back.
    assert seen_a[-1][0] == "complete", seen_a[-3:]
    assert "Worker lost; retrying (attempt 2)" in [d.get("message") for _, d in seen_a]

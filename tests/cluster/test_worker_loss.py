"""A worker killed mid-job (SIGKILL): the job ends in bounded time, without duplicate chunks.

Within ``JOB_MAX_ATTEMPTS`` the surviving worker runs the job again and the stream goes on
where it stopped; past it, the job ends with a ``WORKER_LOST`` error.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import PACE, assert_whole_timeline, create_job, worker_holding
from tests.support.client import Recorder
from tests.support.server import run_server, run_worker

RECLAIM_SECONDS = 2.0


@pytest.mark.parametrize(("max_attempts", "ending"), [(3, "complete"), (1, "error")])
async def test_a_killed_workers_job_ends_in_bounded_time_without_duplicates(
    redis_url: str, redis_prefix: str, tmp_path: Path, wav: Path, max_attempts: int, ending: str
) -> None:
    settings = {
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "stream_pace_seconds": PACE,
        "job_reclaim_seconds": RECLAIM_SECONDS,
        "job_max_attempts": max_attempts,
    }
    with contextlib.ExitStack() as stack:
        node = stack.enter_context(run_server(tmp_path, **settings))
        workers = [stack.enter_context(run_worker(tmp_path, **settings)) for _ in range(2)]
        client = await Recorder(node.url).connect()
        try:
            job_id = await create_job(node, wav)
            await client.subscribe(job_id)
            while sum(name == "chunk" for name, _ in client.events[job_id]) < 3:
                await asyncio.sleep(0.02)
            victim = worker_holding(redis_url, redis_prefix, workers)
            victim.kill(signal.SIGKILL)
            killed_at = time.monotonic()
            events = await client.wait_end(job_id, timeout=60)
            # Reclaim time, one claim poll, then the rest of the job (20 chunks at PACE).
            assert time.monotonic() - killed_at < RECLAIM_SECONDS + 20 * PACE + 10
        finally:
            await client.close()
    assert_whole_timeline(events, ending=ending)
    messages = [data["message"] for name, data in events if name == "progress"]
    if ending == "complete":
        assert "Worker lost; retrying (attempt 2)" in messages
    else:
        assert events[-1][1]["code"] == "WORKER_LOST"

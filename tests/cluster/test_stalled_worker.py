"""A worker that stalls (SIGSTOP) until its job is reclaimed, then wakes up (SIGCONT).

Without fencing, the woken worker kept relaying what its job process had reported before
the stop: clients received chunks twice and out of order (175 duplicated timestamps in the
review). With it, the woken worker's appends are refused, its keepalive tells it the job
is gone, and it stops its job process; the timeline stays whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.cluster.conftest import (
    PACE,
    assert_whole_timeline,
    create_job,
    wait_for_workers,
    worker_holding,
)
from tests.support.client import Recorder
from tests.support.server import ServiceProcess, run_server, run_worker

RECLAIM_SECONDS = 2.0


def job_processes(worker: ServiceProcess) -> list[psutil.Process]:
    """The worker's job processes: children of its forkserver."""
    found = []
    for child in psutil.Process(worker.process.pid).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if "forkserver" in " ".join(child.cmdline()):
                found.extend(child.children())
    return found


async def _until(condition: object, timeout: float, what: str, detail: object = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {detail}")
        await asyncio.sleep(0.02)


@pytest.mark.timeout(400)  # generous waits for a loaded machine
async def test_a_stalled_worker_that_wakes_up_appends_nothing(
    redis_url: str, redis_prefix: str, tmp_path: Path, wav: Path
) -> None:
    settings = {
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "stream_pace_seconds": PACE,
        "job_reclaim_seconds": RECLAIM_SECONDS,
        "log_level": "INFO",
    }
    with contextlib.ExitStack() as stack:
        node = stack.enter_context(run_server(tmp_path, **settings))
        workers = [stack.enter_context(run_worker(tmp_path, **settings)) for _ in range(2)]
        await asyncio.to_thread(wait_for_workers, workers)
        client = await Recorder(node.url).connect()
        stalled: ServiceProcess | None = None
        try:
            job_id = await create_job(node, wav)
            await client.subscribe(job_id)
            events = client.events[job_id]

            def chunk_count() -> int:
                return sum(name == "chunk" for name, _ in events)

            await _until(lambda: chunk_count() >= 3, 60, "the first chunks", events)
            stalled = worker_holding(redis_url, redis_prefix, workers)
            # The whole process group: the worker, its forkserver and its job process, which
            # has reported chunks that the worker had not relayed yet.
            os.killpg(stalled.process.pid, signal.SIGSTOP)

            def retried() -> bool:
                messages = [data.get("message") for name, data in events if name == "progress"]
                return "Worker lost; retrying (attempt 2)" in messages

            await _until(retried, RECLAIM_SECONDS + 30, "the other worker's retry")
            at_retry = chunk_count()
            await _until(lambda: chunk_count() >= at_retry + 2, 30, "the retry's chunks")
            os.killpg(stalled.process.pid, signal.SIGCONT)
            stalled_pid = stalled.process.pid
            stalled = None
            # The woken worker stops its job process rather than letting it run on.
            woken = next(w for w in workers if w.process.pid == stalled_pid)
            await _until(lambda: not job_processes(woken), 30, "the woken job process to end")
            events = await client.wait_end(job_id, timeout=60)
            # Anything the woken worker might still have tried lands before this status.
            await asyncio.sleep(1.0)
        finally:
            if stalled is not None:
                os.killpg(stalled.process.pid, signal.SIGCONT)
            await client.close()
    # Seqs contiguous, every chunk timestamp exactly once and in order, one complete, last.
    assert_whole_timeline(events)
    assert sum(name == "complete" for name, _ in events) == 1
    assert "Traceback" not in woken.output(), woken.output()

"""Two API nodes and two workers on one Redis: any client on any node sees every job whole."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.conftest import PACE, assert_whole_timeline, create_job
from tests.support.client import Recorder, seqs
from tests.support.server import ServiceProcess, run_server, run_worker


@pytest.fixture(scope="module")
def nodes(
    redis_url: str, module_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    tmp = tmp_path_factory.mktemp("cluster")
    settings = {
        "redis_url": redis_url,
        "redis_prefix": module_prefix,
        "stream_pace_seconds": PACE,
    }
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(run_server(tmp, **settings))
        b = stack.enter_context(run_server(tmp, **settings))
        for _ in range(2):
            stack.enter_context(run_worker(tmp, **settings))
        yield a, b


async def test_clients_on_both_nodes_get_every_job_from_either_node(
    nodes: tuple[ServiceProcess, ServiceProcess], wav: Path
) -> None:
    a, b = nodes
    on_a, on_b = await Recorder(a.url).connect(), await Recorder(b.url).connect()
    try:
        jobs = [await create_job(node, wav) for node in (a, b, a, b)]
        for client in (on_a, on_b):
            for job_id in jobs:
                assert (await client.subscribe(job_id))["ok"] is True
        for job_id in jobs:
            seen_a = await on_a.wait_end(job_id, timeout=60)
            seen_b = await on_b.wait_end(job_id, timeout=60)
            assert_whole_timeline(seen_a)
            assert seen_b == seen_a, "both nodes must deliver the same log"
    finally:
        await on_a.close()
        await on_b.close()


async def test_a_client_resumes_on_the_other_node_with_exactly_the_missing_events(
    nodes: tuple[ServiceProcess, ServiceProcess], wav: Path
) -> None:
    a, b = nodes
    witness = await Recorder(b.url).connect()
    first = await Recorder(a.url).connect()
    second = await Recorder(b.url).connect()
    try:
        job_id = await create_job(b, wav)
        await witness.subscribe(job_id)
        await first.subscribe(job_id)
        while sum(name == "chunk" for name, _ in first.events[job_id]) < 5:
            await asyncio.sleep(0.02)
        await first.close()
        before = list(first.events[job_id])
        assert before[-1][0] != "complete", "the job ended before the client left: too fast"
        await asyncio.sleep(5 * PACE)  # the job streams on while the client is away
        ack = await second.subscribe(job_id, last_seq=seqs(before)[-1])
        assert ack["ok"] is True and ack["last_seq"] > seqs(before)[-1]
        after = await second.wait_end(job_id, timeout=60)
        assert seqs(after)[0] == seqs(before)[-1] + 1
        assert_whole_timeline(before + after)
        assert before + after == await witness.wait_end(job_id, timeout=60)
    finally:
        for client in (witness, first, second):
            await client.close()

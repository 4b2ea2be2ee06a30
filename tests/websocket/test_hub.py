"""The hub under a burst: late and resuming subscribers, while events keep coming.

A real Socket.IO server (uvicorn, in this process) on each back-end, real clients, and a
publisher that appends as fast as it can: every subscriber must get exactly the events
after its ``last_seq``, once each and in order, wherever its replay met the live feed.
"""

from __future__ import annotations

import asyncio
import random

from audio_service.protocol import ChunkMessage, CompleteMessage
from tests.support.client import Recorder, seqs
from tests.websocket.conftest import Node

CHUNKS = 600
SUBSCRIBERS = 16


async def test_every_subscriber_gets_exactly_its_events_during_a_burst(node: Node) -> None:
    rng = random.Random(11)
    job = await node.jobs.create_url_job("https://example.com/a.mp3", None)
    published = asyncio.Event()

    async def publish() -> None:
        for i in range(CHUNKS):
            await node.jobs.publish(job.job_id, ChunkMessage(float(i), {"i": i}))
            if i % 7 == 0:
                await asyncio.sleep(0)
            if i == CHUNKS // 10:
                published.set()
        await node.jobs.publish(job.job_id, CompleteMessage({"segments": []}))

    async def follow(delay: float, resume: bool) -> tuple[int, list[int]]:
        await asyncio.sleep(delay)
        client = await Recorder(node.url).connect()
        try:
            after = rng.randrange(1, CHUNKS // 10) if resume else 0
            ack = await client.subscribe(job.job_id, last_seq=after or None)
            assert ack["ok"] is True, ack
            return after, seqs(await client.wait_end(job.job_id, timeout=60))
        finally:
            await client.close()

    publisher = asyncio.create_task(publish())
    await published.wait()
    followers = [follow(delay=rng.uniform(0, 0.3), resume=i % 3 == 0) for i in range(SUBSCRIBERS)]
    results = await asyncio.gather(*followers)
    await publisher
    last = CHUNKS + 2  # the job's first progress event, the chunks, complete
    for after, got in results:
        assert got == list(range(after + 1, last + 1))
    for _ in range(100):
        if not node.hub.sockets and not node.hub.feeds:
            break
        await asyncio.sleep(0.02)
    assert node.hub.sockets == {} and node.hub.feeds == {}


async def test_one_socket_two_jobs_interleaved(node: Node) -> None:
    first = await node.jobs.create_url_job("https://example.com/a.mp3", None)
    second = await node.jobs.create_url_job("https://example.com/b.mp3", None)
    client = await Recorder(node.url).connect()
    await client.subscribe(first.job_id)
    for i in range(50):
        await node.jobs.publish(first.job_id, ChunkMessage(float(i), {"i": i}))
        if i == 20:
            await client.subscribe(second.job_id)
        await node.jobs.publish(second.job_id, ChunkMessage(float(i), {"i": i}))
    for job in (first, second):
        await node.jobs.publish(job.job_id, CompleteMessage({"segments": []}))
    for job in (first, second):
        assert seqs(await client.wait_end(job.job_id)) == list(range(1, 53))
    await client.close()

"""A log that was lost or rewound is never replayed silently: JOB_LOST, terminal.

Redis restarted without its data, a failover to a replica that lagged, an evicted key:
the log a node follows is gone, created again (a new epoch) or shorter than what it
delivered. Its subscribers get a terminal ``error`` JOB_LOST, and a client that resumes
with seqs of the old log is refused with that code rather than fed reused seqs.
"""

from __future__ import annotations

import asyncio

from audio_service.backends.memory import MemoryBackend
from audio_service.backends.redis import RedisBackend
from audio_service.protocol import ChunkMessage
from tests.support.client import Recorder
from tests.websocket.conftest import Node

#: The hub checks its logs every 5 s, after a tail that waits up to 5 s.
NOTICE_SECONDS = 30


async def _job_with_chunks(node: Node, count: int) -> str:
    job = await node.jobs.create_url_job("https://example.com/a.mp3", None)
    for i in range(count):
        await node.jobs.publish(job.job_id, ChunkMessage(float(i), {"i": i}))  # type: ignore[typeddict-item]
    return job.job_id


async def _follow(node: Node, job_id: str, seen: int) -> tuple[Recorder, dict[str, object]]:
    client = await Recorder(node.url).connect()
    ack = await client.subscribe(job_id)
    assert ack["ok"] is True and ack["epoch"], ack
    while len(client.events[job_id]) < seen:
        await asyncio.sleep(0.01)
    return client, ack


async def _lose(node: Node, job_id: str, *, record_too: bool) -> None:
    backend = node.backend
    if isinstance(backend, RedisBackend):
        keys = [backend.keys.log(job_id)] + ([backend.keys.job(job_id)] if record_too else [])
        await backend.redis.delete(*keys)
    else:
        assert isinstance(backend, MemoryBackend)
        backend._events.drop(job_id)
        if record_too:
            backend._jobs.records.pop(job_id)


async def test_subscribers_of_a_job_whose_data_vanished_get_job_lost(node: Node) -> None:
    job_id = await _job_with_chunks(node, 3)
    client, _ = await _follow(node, job_id, 4)
    try:
        await _lose(node, job_id, record_too=True)  # Redis restarted empty
        events = await client.wait_end(job_id, timeout=NOTICE_SECONDS)
        name, data = events[-1]
        assert (name, data["code"], data["seq"]) == ("error", "JOB_LOST", 5)
        assert [d["seq"] for _, d in events] == [1, 2, 3, 4, 5]
        assert node.hub.feeds == {} and node.hub.sockets == {}
    finally:
        await client.close()


async def test_a_log_created_again_ends_its_old_subscribers_and_refuses_old_resumes(
    node: Node,
) -> None:
    job_id = await _job_with_chunks(node, 3)
    client, ack = await _follow(node, job_id, 4)
    try:
        await _lose(node, job_id, record_too=False)  # the log key alone was lost
        # The worker appends on: the log starts again at seq 1, in a new epoch.
        await node.jobs.publish(job_id, ChunkMessage(3.0, {"i": 3}))  # type: ignore[typeddict-item]
        events = await client.wait_end(job_id, timeout=NOTICE_SECONDS)
        assert events[-1][1]["code"] == "JOB_LOST"
        assert [d["seq"] for _, d in events] == [1, 2, 3, 4, 5], "no reused seq delivered"
        again = await Recorder(node.url).connect()
        try:
            stale = await again.subscribe({"job_id": job_id, "last_seq": 4, "epoch": ack["epoch"]})
            assert (stale["ok"], stale["code"]) == (False, "JOB_LOST"), stale
            beyond = await again.subscribe(job_id, last_seq=4)  # past the new log's end
            assert (beyond["ok"], beyond["code"]) == (False, "JOB_LOST"), beyond
            fresh = await again.subscribe(job_id)
            assert fresh["ok"] is True and fresh["epoch"] != ack["epoch"]
            assert fresh["last_seq"] == 1
        finally:
            await again.close()
    finally:
        await client.close()


async def test_a_rewound_log_ends_its_subscribers(node: Node) -> None:
    if not isinstance(node.backend, RedisBackend):
        return  # an in-memory log cannot rewind; the memory run covers the other cases
    job_id = await _job_with_chunks(node, 5)
    client, _ = await _follow(node, job_id, 6)
    try:
        # A failover to a replica that had not yet received the last two events.
        await node.backend.redis.xdel(node.backend.keys.log(job_id), "0-5", "0-6")
        events = await client.wait_end(job_id, timeout=NOTICE_SECONDS)
        assert events[-1][1]["code"] == "JOB_LOST"
        assert [d["seq"] for _, d in events] == [1, 2, 3, 4, 5, 6, 7]
    finally:
        await client.close()


async def test_resuming_with_the_current_epoch_works(node: Node) -> None:
    job_id = await _job_with_chunks(node, 2)
    client, ack = await _follow(node, job_id, 3)
    await client.close()
    again = await Recorder(node.url).connect()
    try:
        resumed = await again.subscribe({"job_id": job_id, "last_seq": 2, "epoch": ack["epoch"]})
        assert resumed["ok"] is True and resumed["epoch"] == ack["epoch"]
        while len(again.events[job_id]) < 1:
            await asyncio.sleep(0.01)
        assert [d["seq"] for _, d in again.events[job_id]] == [3]
    finally:
        await again.close()

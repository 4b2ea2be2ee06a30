"""The streaming protocol end to end: real server, real python-socketio client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.client import Recorder, chunks, seqs, upload
from tests.support.server import ServiceProcess
from tests.support.signals import music_wav

Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def wav20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return music_wav(tmp_path_factory.mktemp("audio") / "song.wav", 20.0, seed=1)


async def _job(service: ServiceProcess, path: Path) -> str:
    response = await upload(service.url, path)
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) >= {"job_id", "video_id", "status", "websocket_url"}
    assert body["status"] == "pending"
    job_id: str = body["job_id"]
    return job_id


def assert_complete_stream(events: Events, *, seconds: int) -> None:
    """The whole timeline of a finished job, as DESIGN.md promises it."""
    assert seqs(events) == list(range(1, len(events) + 1)), "seq must run 1, 2, 3, ..."
    names = [name for name, _ in events]
    assert names[-1] == "complete", names[-3:]
    progress = [data["progress"] for name, data in events if name == "progress"]
    assert progress == sorted(progress), f"progress went down: {progress}"
    assert names[-2] == "progress" and progress[-1] == 100
    got = chunks(events)
    assert [c["timestamp"] for c in got] == [float(i) for i in range(seconds)]
    analysis = events[-1][1]["analysis"]
    assert analysis["segments"] == [c["segment"] for c in got]
    for c in got:
        assert c["type"] == "chunk" and c["segment"]["start_time"] == c["timestamp"]


async def test_upload_streams_every_second_then_complete(
    service: ServiceProcess, wav20: Path
) -> None:
    client = await Recorder(service.url).connect()
    try:
        assert client.connected == [{"type": "connected", "job_id": ""}]
        job_id = await _job(service, wav20)
        ack = await client.subscribe(job_id)
        assert ack["ok"] is True and ack["job_id"] == job_id and ack["last_seq"] >= 1
        events = await client.wait_end(job_id)
        assert_complete_stream(events, seconds=20)
        assert client.subscribed[0]["job_id"] == job_id
        assert client.errors == []
        async with httpx.AsyncClient() as http:
            status = (await http.get(f"{service.url}/api/jobs/{job_id}")).json()
            seed_path = (await http.get(f"{service.url}/api/job/{job_id}")).json()
            analysis = (await http.get(f"{service.url}/api/jobs/{job_id}/analysis")).json()
        assert status["status"] == "complete" and status["progress"] == 100
        assert seed_path == status
        assert analysis == events[-1][1]["analysis"]
        assert analysis["samplerate"] == 44100 and analysis["duration"] == 20.0
    finally:
        await client.close()


async def test_late_subscriber_and_resume_get_exactly_the_missing_events(
    service: ServiceProcess, wav20: Path
) -> None:
    first = await Recorder(service.url).connect()
    job_id = await _job(service, wav20)
    await first.subscribe(job_id)
    full = await first.wait_end(job_id)
    await first.close()

    late = await Recorder(service.url).connect()
    resumed = await Recorder(service.url).connect()
    try:
        ack = await late.subscribe(job_id)
        assert ack["last_seq"] == len(full)
        assert await late.wait_end(job_id) == full
        k = 7
        await resumed.subscribe(job_id, last_seq=k)
        assert await resumed.wait_end(job_id) == full[k:]
    finally:
        await late.close()
        await resumed.close()


async def test_one_socket_follows_two_jobs(service: ServiceProcess, tmp_path: Path) -> None:
    short = music_wav(tmp_path / "short.wav", 5.0, seed=2)
    longer = music_wav(tmp_path / "longer.wav", 8.0, seed=3)
    client = await Recorder(service.url).connect()
    try:
        a, b = await _job(service, short), await _job(service, longer)
        await asyncio.gather(client.subscribe(a), client.subscribe(b))
        events_a, events_b = await client.wait_end(a), await client.wait_end(b)
        assert_complete_stream(events_a, seconds=5)
        assert_complete_stream(events_b, seconds=8)
        assert all(data["job_id"] == a for _, data in events_a)
        assert all(data["job_id"] == b for _, data in events_b)
    finally:
        await client.close()


async def test_subscribing_mid_stream_loses_and_repeats_nothing(
    paced_service: ServiceProcess, wav20: Path
) -> None:
    early = await Recorder(paced_service.url).connect()
    mid = await Recorder(paced_service.url).connect()
    try:
        job_id = await _job(paced_service, wav20)
        await early.subscribe(job_id)
        while len(chunks(early.events[job_id])) < 5:
            await asyncio.sleep(0.02)
        await mid.subscribe(job_id)
        full = await early.wait_end(job_id)
        assert_complete_stream(full, seconds=20)
        assert await mid.wait_end(job_id) == full
    finally:
        await early.close()
        await mid.close()


async def test_cancel_ends_the_stream(paced_service: ServiceProcess, wav20: Path) -> None:
    client = await Recorder(paced_service.url).connect()
    try:
        job_id = await _job(paced_service, wav20)
        await client.subscribe(job_id)
        while not chunks(client.events[job_id]):
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient() as http:
            response = await http.delete(f"{paced_service.url}/api/jobs/{job_id}")
        assert response.status_code == 200 and response.json()["status"] == "cancelled"
        events = await client.wait_end(job_id)
        assert events[-1][0] == "error" and events[-1][1]["code"] == "CANCELLED"
        assert seqs(events) == list(range(1, len(events) + 1))
        assert len(chunks(events)) < 20
        await asyncio.sleep(0.3)  # nothing may follow the terminal event
        assert client.events[job_id][-1] == events[-1]
    finally:
        await client.close()

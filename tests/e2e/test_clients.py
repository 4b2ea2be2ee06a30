"""The shipped clients (Python ``audio_service.client`` and ``clients/js``) against a real
server: a whole job, exactly once and in order, across a transport drop mid-job."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from audio_service.client import AudioServiceClient, StreamError
from tests.support.server import ROOT, ServiceProcess
from tests.support.signals import music_wav

JS_DIR = ROOT / "tests" / "js"
CLIENT_JS = ROOT / "clients" / "js"
SECONDS = 20


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return music_wav(tmp_path_factory.mktemp("audio") / "song.wav", SECONDS, seed=8)


def assert_exactly_once(events: list[dict[str, Any]], *, seconds: int) -> None:
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    chunks = [e for e in events if e["type"] == "chunk"]
    assert [c["timestamp"] for c in chunks] == [float(i) for i in range(seconds)]
    assert events[-1]["type"] == "complete"
    assert events[-1]["analysis"]["segments"] == [c["segment"] for c in chunks]


async def test_python_client_resumes_after_a_transport_drop(
    paced_service: ServiceProcess, wav: Path
) -> None:
    async with AudioServiceClient(paced_service.url, reconnection_delay=0.1) as client:
        job = await client.submit_file(wav)
        events: list[dict[str, Any]] = []
        dropped_at = None
        async for event in client.stream(job["job_id"]):
            events.append(event)
            if event["type"] == "chunk" and dropped_at is None and event["timestamp"] == 4.0:
                # Kill the engine.io transport under python-socketio: it reconnects itself.
                dropped_at = event["seq"]
                await client.sio.eio.ws.close()
        assert client.connections >= 2, "the drop did not cause a reconnect"
        assert dropped_at is not None and dropped_at < events[-1]["seq"]
        assert_exactly_once(events, seconds=SECONDS)
        status = await client.status(job["job_id"])
        assert status["status"] == "complete" and status["duration"] == SECONDS
        assert await client.analysis(job["job_id"]) == events[-1]["analysis"]


async def test_python_client_follows_two_jobs_on_one_connection(
    paced_service: ServiceProcess, wav: Path
) -> None:
    async with AudioServiceClient(paced_service.url) as client:
        jobs = [await client.submit_file(wav) for _ in range(2)]

        async def collect(job_id: str) -> list[dict[str, Any]]:
            return [event async for event in client.stream(job_id)]

        results = await asyncio.gather(*(collect(job["job_id"]) for job in jobs))
        for events in results:
            assert_exactly_once(events, seconds=SECONDS)
        assert client.connections == 1


async def test_python_client_reports_an_unknown_job(paced_service: ServiceProcess) -> None:
    async with AudioServiceClient(paced_service.url) as client:
        with pytest.raises(StreamError) as caught:
            async for _ in client.stream("A" * 22):
                pass
        assert caught.value.code == "JOB_NOT_FOUND" and caught.value.job_id == "A" * 22


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None or not (CLIENT_JS / "node_modules" / "socket.io-client").exists():
        pytest.skip("Node.js and clients/js/node_modules are needed: run scripts/test (npm ci)")
    return path


async def test_js_client_resumes_after_a_transport_drop(
    paced_service: ServiceProcess, node: str, wav: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS_DIR / "resume_client.mjs"),
        paced_service.url,
        str(wav),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=JS_DIR,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    seen = json.loads(out)
    assert seen["connects"] >= 2, "the drop did not cause a reconnect"
    assert seen["droppedAt"] < seen["events"][-1]["seq"]
    assert_exactly_once(seen["events"], seconds=SECONDS)
    assert seen["unknown"] == {"code": "JOB_NOT_FOUND", "jobId": "A" * 22}

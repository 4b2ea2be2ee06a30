"""The official JavaScript socket.io-client, under Node, against the real server."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.test_stream import assert_complete_stream
from tests.support.client import upload
from tests.support.server import ServiceProcess
from tests.support.signals import music_wav

JS_DIR = Path(__file__).resolve().parents[1] / "js"


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None or not (JS_DIR / "node_modules" / "socket.io-client").exists():
        pytest.skip(
            "Node.js with socket.io-client is needed: run scripts/test (npm ci in tests/js)"
        )
    return path


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_js_client_receives_the_whole_stream(
    service: ServiceProcess, node: str, tmp_path: Path, transport: str
) -> None:
    wav = music_wav(tmp_path / "song.wav", 20.0, seed=6)
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS_DIR / "stream_client.mjs"),
        service.url,
        transport,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=JS_DIR,
    )
    assert process.stdin and process.stdout
    ready = await asyncio.wait_for(process.stdout.readline(), 30)
    assert ready == b"READY\n", ready
    job_id = (await upload(service.url, wav)).json()["job_id"]
    process.stdin.write(job_id.encode() + b"\n")
    await process.stdin.drain()
    out = await asyncio.wait_for(process.stdout.read(), 60)
    assert await process.wait() == 0, out
    seen = json.loads(out)
    assert seen["connected"] == [{"type": "connected", "job_id": ""}]
    assert seen["ack"]["ok"] is True and seen["ack"]["job_id"] == job_id
    assert seen["subscribed"][0]["job_id"] == job_id
    events = [(name, data) for name, data in seen["events"]]
    assert_complete_stream(events, seconds=20)

"""Disconnecting, mid-stream or not, leaves no per-socket state behind."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import socketio

from tests.support.client import upload
from tests.support.server import ServiceProcess
from tests.support.signals import music_wav


def gauge(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


async def test_many_subscribe_disconnect_cycles_leave_nothing(
    paced_service: ServiceProcess, tmp_path: Path
) -> None:
    wav = music_wav(tmp_path / "song.wav", 20.0, seed=5)
    job_id = (await upload(paced_service.url, wav)).json()["job_id"]

    async def cycle() -> None:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(paced_service.url, transports=["websocket"])
        ack = await client.call("subscribe", {"job_id": job_id}, timeout=10)
        assert ack["ok"]
        await client.call("subscribe", {"job_id": "missing"}, timeout=10)
        await client.disconnect()

    for _ in range(10):
        await asyncio.gather(*(cycle() for _ in range(10)))
    async with httpx.AsyncClient() as http:
        for _ in range(50):
            metrics = (await http.get(paced_service.url + "/metrics")).text
            if gauge(metrics, "audio_service_connected_sockets") == 0:
                break
            await asyncio.sleep(0.1)
        await http.delete(f"{paced_service.url}/api/jobs/{job_id}")
    assert gauge(metrics, "audio_service_connected_sockets") == 0
    assert gauge(metrics, "audio_service_subscriptions") == 0
    assert gauge(metrics, "audio_service_followed_jobs") == 0

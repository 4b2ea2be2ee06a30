"""Progress follows the audio analysed, and the duration is known before the first chunk."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.client import Recorder, upload
from tests.support.server import ServiceProcess
from tests.support.signals import music_wav


@pytest.fixture(scope="module")
def wav40(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return music_wav(tmp_path_factory.mktemp("audio") / "forty.wav", 40.0, seed=3)


async def test_progress_moves_with_the_audio_and_carries_the_duration(
    service: ServiceProcess, wav40: Path
) -> None:
    client = await Recorder(service.url).connect()
    try:
        response = await upload(service.url, wav40)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        await client.subscribe(job_id)
        events = await client.wait_end(job_id, timeout=120)
    finally:
        await client.close()
    progress = [(data["status"], data["progress"]) for name, data in events if name == "progress"]
    values = [value for _, value in progress]
    assert values == sorted(values), f"progress went down: {values}"
    assert len(set(values)) >= 10, f"only {len(set(values))} distinct values: {values}"
    assert values.count(100) == 1 and values[-1] == 100
    assert [name for name, _ in events][-2:] == ["progress", "complete"]
    # The first analyzing event states the duration, and it comes before any chunk.
    names = [name for name, _ in events]
    first = next(i for i, (name, data) in enumerate(events) if data.get("status") == "analyzing")
    assert events[first][0] == "progress" and events[first][1]["duration"] == 40.0
    assert first < names.index("chunk")
    # Per second of audio at most: never more progress events than seconds (+ start, end).
    assert len(values) <= 40 + 3


async def test_subscribed_and_rest_status_carry_the_duration(
    service: ServiceProcess, wav40: Path
) -> None:
    response = await upload(service.url, wav40)
    job_id = response.json()["job_id"]
    first = await Recorder(service.url).connect()
    try:
        await first.subscribe(job_id)
        await first.wait_end(job_id, timeout=120)
    finally:
        await first.close()
    late = await Recorder(service.url).connect()
    try:
        await late.subscribe(job_id)
        await late.wait_end(job_id, timeout=60)
        assert late.subscribed[0]["duration"] == 40.0
        assert late.subscribed[0]["progress"] == 100
    finally:
        await late.close()
    async with httpx.AsyncClient() as http:
        status = (await http.get(f"{service.url}/api/jobs/{job_id}")).json()
    assert status["duration"] == 40.0 and status["progress"] == 100

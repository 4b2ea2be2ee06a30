"""The analysis cache: the same bytes, or the same media URL, replay the stored analysis as
a normal stream of a job of their own, without running an analysis process."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf

from tests.e2e.conftest import BACKENDS, cluster
from tests.support.client import Recorder, submit_url, upload
from tests.support.media_server import MediaServer, serve_media
from tests.support.server import ServiceProcess
from tests.support.signals import SR, music, music_wav

Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module", params=BACKENDS)
def cached_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    tmp = tmp_path_factory.mktemp("cache")
    with cluster(request, tmp, analysis_cache="true", allow_private_urls="true") as server:
        yield server


async def _run(url: str, response: httpx.Response) -> tuple[str, Events]:
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    client = await Recorder(url).connect()
    try:
        await client.subscribe(job_id)
        return job_id, await client.wait_end(job_id, timeout=120)
    finally:
        await client.close()


def _without_ids(events: Events) -> list[tuple[str, dict[str, Any]]]:
    return [(name, {k: v for k, v in data.items() if k != "job_id"}) for name, data in events]


def _counter(url: str, event: str) -> float:
    text = httpx.get(url + "/metrics").text
    match = re.search(rf'^audio_service_jobs_total\{{status="{event}"\}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


async def _status(url: str, job_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        body: dict[str, Any] = (await http.get(f"{url}/api/jobs/{job_id}")).json()
        return body


async def test_the_same_upload_replays_the_stored_analysis(
    cached_service: ServiceProcess, tmp_path: Path
) -> None:
    url = cached_service.url
    song = music_wav(tmp_path / "first-name.wav", 12.0, seed=21)
    first_id, first = await _run(url, await upload(url, song))
    started, cached = _counter(url, "started"), _counter(url, "cached")
    again = song.rename(tmp_path / "another-name.wav")  # same bytes, another name
    second_id, second = await _run(url, await upload(url, again))

    assert second_id != first_id
    assert all(data["job_id"] == second_id for _, data in second)
    assert _without_ids(second) == _without_ids(first)  # same events, progress included
    assert second[-1][1]["analysis"] == first[-1][1]["analysis"]
    assert (await _status(url, first_id))["cached"] is False
    status = await _status(url, second_id)
    assert status["cached"] is True and status["status"] == "complete"
    assert status["duration"] == 12.0 and status["progress"] == 100
    # No analysis ran: the node counted a cache hit and started no job process.
    assert _counter(url, "cached") == cached + 1
    assert _counter(url, "started") == started


async def test_other_bytes_are_analysed(cached_service: ServiceProcess, tmp_path: Path) -> None:
    url = cached_service.url
    await _run(url, await upload(url, music_wav(tmp_path / "a.wav", 5.0, seed=22)))
    other_id, _ = await _run(url, await upload(url, music_wav(tmp_path / "b.wav", 5.0, seed=23)))
    assert (await _status(url, other_id))["cached"] is False


@pytest.fixture(scope="module")
def media() -> Iterator[MediaServer]:
    buffer = io.BytesIO()
    sf.write(buffer, music(6.0, seed=24), SR, format="WAV")
    with serve_media() as server:
        server.files["/song.wav"] = ("audio/wav", buffer.getvalue())
        yield server


async def test_the_same_media_url_replays_without_downloading(
    cached_service: ServiceProcess, media: MediaServer
) -> None:
    url = cached_service.url
    _, first = await _run(url, await submit_url(url, media.url("/song.wav")))
    downloads = len(media.requests)
    # Another spelling of the same URL: host case and fragment do not matter.
    same = media.url("/song.wav").replace("http://", "HTTP://") + "#again"
    second_id, second = await _run(url, await submit_url(url, same))
    assert len(media.requests) == downloads, "the cached job downloaded again"
    assert _without_ids(second) == _without_ids(first)
    assert (await _status(url, second_id))["cached"] is True


async def test_the_cache_can_be_turned_off(service: ServiceProcess, tmp_path: Path) -> None:
    # The suite's default servers run with ANALYSIS_CACHE=false.
    song = music_wav(tmp_path / "song.wav", 4.0, seed=25)
    for _ in range(2):
        job_id, events = await _run(service.url, await upload(service.url, song))
        assert events[-1][0] == "complete"
        assert (await _status(service.url, job_id))["cached"] is False

"""URL jobs: yt-dlp fetches from a local HTTP server (ALLOW_PRIVATE_URLS=true in tests)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import soundfile as sf

from tests.e2e.test_stream import assert_complete_stream
from tests.support.client import Recorder, submit_url
from tests.support.media_server import MediaServer, serve_media
from tests.support.server import ServiceProcess
from tests.support.signals import SR, music


@pytest.fixture(scope="module")
def media() -> Iterator[MediaServer]:
    buffer = io.BytesIO()
    sf.write(buffer, music(12.0, seed=4), SR, format="MP3")
    with serve_media() as server:
        server.files["/song.mp3"] = ("audio/mpeg", buffer.getvalue())
        yield server


async def test_url_job_streams_like_an_upload(service: ServiceProcess, media: MediaServer) -> None:
    client = await Recorder(service.url).connect()
    try:
        response = await submit_url(service.url, media.url("/song.mp3"))
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        await client.subscribe(job_id)
        events = await client.wait_end(job_id)
        statuses = [data["status"] for name, data in events if name == "progress"]
        assert statuses[0] == "pending"
        assert "extracting" in statuses
        assert statuses.index("extracting") < statuses.index("analyzing")
        # MP3 encoder padding may add a partial last second.
        seconds = sum(1 for name, _ in events if name == "chunk")
        assert seconds in (12, 13)
        assert_complete_stream(events, seconds=seconds)
        assert "/song.mp3" in media.requests
    finally:
        await client.close()


async def test_seed_body_with_youtube_url_is_accepted(
    service: ServiceProcess, media: MediaServer
) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        response = await http.post(
            service.url + "/api/analyze",
            json={"youtube_url": media.url("/song.mp3"), "video_id": "abc123"},
        )
    assert response.status_code == 202
    assert response.json()["video_id"] == "abc123"


async def test_url_that_answers_404_ends_with_error(
    service: ServiceProcess, media: MediaServer
) -> None:
    client = await Recorder(service.url).connect()
    try:
        response = await submit_url(service.url, media.url("/missing.mp3"))
        job_id = response.json()["job_id"]
        await client.subscribe(job_id)
        events = await client.wait_end(job_id)
        name, data = events[-1]
        assert name == "error" and data["code"] == "DOWNLOAD_ERROR"
        assert "404" in data["message"]
    finally:
        await client.close()

"""``GET /metrics`` after real jobs: the counts add up with what clients actually received."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.client import Recorder, upload
from tests.support.server import ServiceProcess, run_server
from tests.support.signals import music_wav

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{url}/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def settled(url: str) -> Samples:
    """Metrics once the server has processed every disconnect."""
    for _ in range(100):
        samples = await scrape(url)
        if value(samples, "audio_service_connected_sockets") == 0:
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError("sockets still counted as connected")


async def test_counts_add_up_after_a_job(service: ServiceProcess, tmp_path: Path) -> None:
    backend = httpx.get(f"{service.url}/health").json()["backend"]
    before = await scrape(service.url)
    early, late = Recorder(service.url), Recorder(service.url)
    await early.connect()
    response = await upload(service.url, music_wav(tmp_path / "song.wav", 6.0, seed=3))
    job_id = response.json()["job_id"]
    await early.subscribe(job_id)
    early_events = await early.wait_end(job_id)
    # A late subscriber is served by replay alone.
    await late.connect()
    await late.subscribe(job_id)
    late_events = await late.wait_end(job_id)
    await early.close()
    await late.close()
    after = await settled(service.url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    last_seq = early_events[-1][1]["seq"]
    assert len(early_events) == len(late_events) == last_seq
    delivered = delta("audio_service_events_delivered_total", mode="live") + delta(
        "audio_service_events_delivered_total", mode="replay"
    )
    assert delivered == len(early_events) + len(late_events)
    assert delta("audio_service_events_delivered_total", mode="replay") >= last_seq
    appended = sum(
        delta("audio_service_events_appended_total", event=name)
        for name in ("progress", "chunk", "complete", "error")
    )
    assert delta("audio_service_events_appended_total", event="chunk") in (0, 6)
    assert delta("audio_service_jobs_total", status="created") == 1
    if backend == "memory":
        # The API node also runs the analysis: it appended every event and ended the job.
        assert appended == last_seq
        assert delta("audio_service_jobs_total", status="started") == 1
        assert delta("audio_service_jobs_total", status="complete") == 1
        assert delta("audio_service_analysis_realtime_factor_count") == 1
        assert delta("audio_service_analysis_realtime_factor_sum") > 0
    else:
        # A worker analysed it: this node appended only the job's first event.
        assert appended == 1
    live_events = delta("audio_service_delivery_latency_seconds_count")
    assert 1 <= live_events <= last_seq
    assert delta("audio_service_delivery_latency_seconds_sum") >= 0
    # One backlog high-water mark per subscribed socket, observed at its disconnect.
    assert delta("audio_service_socket_backlog_high_water_count") == 2
    assert delta("audio_service_socket_backlog_high_water_sum") >= 2
    assert value(after, "audio_service_subscriptions") == 0
    assert value(after, "audio_service_followed_jobs") == 0
    assert delta("audio_service_slow_consumer_disconnects_total") == 0


async def test_socket_rate_limit_refusals_are_counted(service: ServiceProcess) -> None:
    before = await scrape(service.url)
    client = await Recorder(service.url).connect()
    # Unknown events are answered one by one; past the socket's token bucket, refused.
    for _ in range(40):
        await client.sio.emit("no-such-event", {})
    for _ in range(100):
        if len(client.errors) >= 40:
            break
        await asyncio.sleep(0.05)
    await client.close()
    refused = sum(1 for error in client.errors if error["code"] == "RATE_LIMITED")
    assert refused > 0
    after = await scrape(service.url)
    counted = value(after, "audio_service_rate_limited_total", where="socket") - value(
        before, "audio_service_rate_limited_total", where="socket"
    )
    assert counted == refused


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with run_server(tmp_path_factory.mktemp("strict"), rate_limit_per_minute=1) as server:
        yield server


async def test_http_rate_limit_refusals_are_counted(strict_server: ServiceProcess) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        statuses = [
            (await http.post(f"{strict_server.url}/api/analyze", json={"url": "ftp://x"}))
            for _ in range(3)
        ]
    assert [s.status_code for s in statuses][1:] == [429, 429]
    samples = await scrape(strict_server.url)
    assert value(samples, "audio_service_rate_limited_total", where="http") == 2

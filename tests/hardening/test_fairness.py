"""One address cannot starve the others: per-client caps and a bounded queue.

From the review: only job creation was limited (10 a minute per address), each job could
take 240 CPU-seconds, and the queue was unbounded, so one address outran about 20 workers.
Now a client has at most MAX_ACTIVE_JOBS_PER_CLIENT jobs queued or running (429
TOO_MANY_JOBS past it), the queue holds at most MAX_QUEUED_JOBS (503 QUEUE_FULL with
Retry-After), and a job's CPU limit follows the length of its audio.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from audio_service.jobs.process import JobSpec, cpu_allowance
from tests.hardening.conftest import job_end
from tests.support.server import ServiceProcess, run_server
from tests.support.signals import music_wav

SLOTS = 2
#: The test's clients come from loopback; a trusted proxy there names each of them.
FAIR = {
    "worker_concurrency": SLOTS,
    "max_active_jobs_per_client": SLOTS,
    "max_queued_jobs": 5,
    "trusted_proxies": "127.0.0.1",
    "stream_pace_seconds": 0.1,  # 10 chunks: a job of a second or more
    # Every job here is the same song: replaying the first one's analysis would run nothing.
    "analysis_cache": "false",
}


@pytest.fixture(scope="module")
def fair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with run_server(tmp_path_factory.mktemp("fair"), **FAIR) as server:
        yield server


async def _submit(
    http: httpx.AsyncClient, server: ServiceProcess, wav: Path, who: str
) -> httpx.Response:
    with open(wav, "rb") as fh:
        return await http.post(
            server.url + "/api/analyze",
            files={"file": ("song.wav", fh, "audio/wav")},
            headers={"X-Forwarded-For": who},
        )


async def _timed(server: ServiceProcess, job_id: str, since: float) -> float:
    assert (await job_end(server.url, job_id, timeout=120))["status"] == "complete"
    return time.monotonic() - since


async def test_a_flooding_address_delays_another_by_one_job_at_most(
    fair: ServiceProcess, tmp_path: Path
) -> None:
    wav = music_wav(tmp_path / "song.wav", 10.0)
    async with httpx.AsyncClient(timeout=60) as http:
        # One job alone: what "one job's time" is on this machine, now.
        started = time.monotonic()
        alone = await _timed(
            fair, (await _submit(http, fair, wav, "198.51.100.9")).json()["job_id"], started
        )
        # The flood: one address asks for ten jobs at once.
        flood = [await _submit(http, fair, wav, "198.51.100.1") for _ in range(10)]
        accepted = [r for r in flood if r.status_code == 202]
        refused = [r for r in flood if r.status_code != 202]
        assert len(accepted) == SLOTS, [r.text for r in flood]
        assert {r.status_code for r in refused} == {429}
        assert {r.json()["code"] for r in refused} == {"TOO_MANY_JOBS"}
        assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
        # Another address submits while the flood's jobs hold every slot.
        started = time.monotonic()
        victim = (await _submit(http, fair, wav, "198.51.100.2")).json()["job_id"]
        waited = await _timed(fair, victim, started)
        for response in accepted:
            await job_end(fair.url, response.json()["job_id"], timeout=120)
        # Its slots free again, the flooding address may submit again.
        assert (await _submit(http, fair, wav, "198.51.100.1")).status_code == 202
    print(f"\none job alone {alone:.2f} s; behind the flood {waited:.2f} s")
    assert waited < 2 * alone + 3, "the flood delayed another address by more than one job"


async def test_a_full_queue_answers_503_with_retry_after(
    fair: ServiceProcess, tmp_path: Path
) -> None:
    wav = music_wav(tmp_path / "song.wav", 10.0)
    async with httpx.AsyncClient(timeout=60) as http:
        answers = await asyncio.gather(
            *(_submit(http, fair, wav, f"203.0.113.{n}") for n in range(1, 9))
        )
        statuses = sorted(r.status_code for r in answers)
        full = [r for r in answers if r.status_code == 503]
        assert full, statuses
        assert {r.json()["code"] for r in full} == {"QUEUE_FULL"}
        assert all(int(r.headers["Retry-After"]) >= 1 for r in full)
        assert statuses.count(202) <= int(FAIR["max_queued_jobs"])
        for response in answers:
            if response.status_code == 202:
                await job_end(fair.url, response.json()["job_id"], timeout=120)


def test_the_cpu_limit_follows_the_audio_length() -> None:
    spec = JobSpec(job_id="x", path=None, url=None, work_dir=".", max_duration=600,
                   max_download_bytes=1, allow_private_urls=False, cpu_seconds=240,
                   memory_bytes=1, download_seconds=1, cpu_per_audio_second=1.0)  # fmt: skip
    assert cpu_allowance(spec, duration=10.0, used=0.5) == 21  # a clip: seconds, not minutes
    assert cpu_allowance(spec, duration=120.0, used=1.0) == 131
    assert cpu_allowance(spec, duration=600.0, used=1.0) == 240  # never above JOB_CPU_SECONDS

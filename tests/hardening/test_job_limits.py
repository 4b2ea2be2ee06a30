"""Untrusted files and URLs are handled in a job process with CPU, memory, file-size and
wall-clock bounds: a pathological job ends itself, and the others carry on.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
import soundfile as sf

from audio_service.jobs.children import THREAD_POOL_VARIABLES
from tests.hardening.conftest import job_end
from tests.hardening.hostile_http import Hostile, serve_hostile
from tests.support.isolated import run_python
from tests.support.server import ServiceProcess, run_server
from tests.support.signals import SR, music

#: Room for the bomb to use its 1 s of CPU on a loaded two-core machine (at a load of 8 a
#: process gets a quarter of a core): with 3 s it sometimes met this deadline first.
JOB_TIMEOUT = 12
LIMITED = {
    "job_cpu_seconds": 1,
    "job_timeout_seconds": JOB_TIMEOUT,
    # Longer than the job's deadline, so that a stalled download meets the job's deadline
    # (the download deadline of its own is tested in test_ssrf.py).
    "download_timeout_seconds": 30,
    "max_download_mb": 1,
    "allow_private_urls": "true",
    "worker_concurrency": 4,
}
#: The default address-space limit of a job process (JOB_MEMORY_MB), bytes.
DEFAULT_JOB_MEMORY = 2048 * 1024 * 1024


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with run_server(tmp_path_factory.mktemp("limited"), **LIMITED) as server:
        yield server


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    buffer = io.BytesIO()
    sf.write(buffer, music(30.0, seed=6), SR, format="MP3")
    with serve_hostile() as server:
        server.files["/trickle.mp3"] = ("audio/mpeg", buffer.getvalue())
        server.trickle["/trickle.mp3"] = 0.1
        server.endless.add("/endless.mp3")
        yield server


def _encoded(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt)
    return buffer.getvalue()


def job_processes(server: ServiceProcess) -> list[psutil.Process]:
    """The processes running jobs: children of the server's forkserver."""
    found = []
    for child in psutil.Process(server.process.pid).children():
        try:
            if "forkserver" in " ".join(child.cmdline()):
                found.extend(child.children())
        except psutil.NoSuchProcess:
            continue
    return found


def forkserver_threads(server: ServiceProcess) -> list[int]:
    return [
        child.num_threads()
        for child in psutil.Process(server.process.pid).children()
        if "forkserver" in " ".join(child.cmdline())
    ]


async def _sample_job_processes(server: ServiceProcess, seconds: float) -> dict[str, Any]:
    """The largest address space of any job process seen, and one process's limits."""
    peak, limits = 0, ""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for proc in job_processes(server):
            try:
                peak = max(peak, proc.memory_info().vms)
                limits = limits or Path(f"/proc/{proc.pid}/limits").read_text()
            except (psutil.NoSuchProcess, FileNotFoundError):
                continue
        await asyncio.sleep(0.05)
    return {"peak_vms": peak, "limits": limits}


async def _job(http: httpx.AsyncClient, server: ServiceProcess, **kwargs: Any) -> dict[str, Any]:
    response = await http.post(server.url + "/api/analyze", **kwargs)
    assert response.status_code == 202, response.text
    started = time.monotonic()
    job = await job_end(server.url, response.json()["job_id"], timeout=30)
    job["seconds"] = round(time.monotonic() - started, 2)
    return job


async def test_pathological_jobs_end_themselves_while_a_good_one_completes(
    limited: ServiceProcess, hostile: Hostile
) -> None:
    # Ten minutes (the duration limit) of 8-channel digital silence at 384 kHz: 2 MB of
    # FLAC, 9 s of CPU to analyse (15 ms per second of audio, measured).
    bomb = _encoded(np.zeros((384_000 * 600, 8), dtype=np.int16), 384_000, "FLAC")
    good = _encoded(music(2.0, seed=8), SR, "WAV")
    async with httpx.AsyncClient(timeout=30) as http:
        results = await asyncio.gather(
            _job(http, limited, files={"file": ("bomb.flac", bomb)}),
            _job(http, limited, json={"url": hostile.url("/trickle.mp3")}),
            _job(http, limited, files={"file": ("good.wav", good)}),
            _sample_job_processes(limited, 2.5),
        )
    bomb_job, stalled_job, good_job, processes = results
    for name, job in zip(("bomb", "stalled", "good"), results[:3], strict=True):
        print(name, job["status"], job["error"], f"{job['seconds']} s")
    assert bomb_job["error"]["code"] == "DECODE_ERROR", bomb_job
    assert "resource limits" in bomb_job["error"]["message"]
    assert stalled_job["error"]["code"] == "TIMEOUT", stalled_job
    assert stalled_job["seconds"] < JOB_TIMEOUT + 8, stalled_job
    assert good_job["status"] == "complete" and good_job["seconds"] < 3, good_job
    # The limits really are on the job processes.
    limits = processes["limits"]
    assert limits, "no job process was seen"
    assert _limit(limits, "Max cpu time") == "1"
    assert _limit(limits, "Max address space") == str(DEFAULT_JOB_MEMORY)
    assert _limit(limits, "Max core file size") == "0"
    assert int(_limit(limits, "Max file size")) <= 2 * 1024 * 1024 * 17
    # No BLAS thread pool in the forkserver: its mappings would be in every job process.
    assert forkserver_threads(limited) == [1]
    # A job process's address space leaves the limit ample headroom.
    print(f"peak job process VSZ: {processes['peak_vms'] / 2**20:.0f} MiB")
    assert 0 < processes["peak_vms"] < DEFAULT_JOB_MEMORY * 0.6
    assert [p.pid for p in job_processes(limited)] == [], "job processes left behind"


async def test_a_download_without_length_stops_at_the_size_cap(
    limited: ServiceProcess, hostile: Hostile
) -> None:
    """A chunked body has no Content-Length for yt-dlp's max_filesize to refuse up front."""
    async with httpx.AsyncClient(timeout=30) as http:
        job = await _job(http, limited, json={"url": hostile.url("/endless.mp3")})
    assert job["error"]["code"] == "DOWNLOAD_ERROR", job
    assert "larger than 1 MB" in job["error"]["message"], job


def _limit(text: str, name: str) -> str:
    line = next(line for line in text.splitlines() if line.startswith(name))
    return line[len(name) :].split()[0]


_RUNAWAY = """
import json, resource, sys
import numpy as np
import audio_service.jobs.preload  # the forkserver's imports: a job process's footprint
from audio_service.analysis import analyze_file
from audio_service.jobs.process import JobSpec, limit_resources

def vms():
    return int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()

spec = JobSpec(job_id="x", path=None, url=None, work_dir=".", max_duration=600,
               max_download_bytes=200 * 2**20, allow_private_urls=False, cpu_seconds=240,
               memory_bytes=int(sys.argv[1]), download_seconds=120)
before = vms()
limit_resources(spec)
report = {"vms_before": before}
for path in sys.argv[2:]:
    report[path] = len(analyze_file(path)["segments"])
report["vms_after"] = vms()
try:
    runaway = np.ones(3 * 2**30, dtype=np.uint8)
    report["runaway"] = "allocated"
except MemoryError:
    report["runaway"] = "MemoryError"
print(json.dumps(report))
"""


def test_memory_limit_lets_analysis_run_and_stops_a_runaway_allocation(tmp_path: Path) -> None:
    """Under the default JOB_MEMORY_MB, WAV (libsndfile) and AAC (an ffmpeg child, which
    inherits the limit) analyse fine; a 3 GiB allocation fails with MemoryError.
    """
    wav = tmp_path / "song.wav"
    sf.write(wav, music(30.0, seed=9), SR)
    m4a = tmp_path / "song.m4a"
    import imageio_ffmpeg

    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(wav), "-c:a", "aac", str(m4a)],
        check=True,
        timeout=60,
    )
    # The thread-pool sizes the runner gives the forkserver (jobs/runner.py).
    env = os.environ | {name: "1" for name in THREAD_POOL_VARIABLES}
    stdout = run_python(
        "-c", _RUNAWAY, str(DEFAULT_JOB_MEMORY), str(wav), str(m4a), timeout=120, env=env
    )
    report = json.loads(stdout.splitlines()[-1])
    print(
        f"job process VSZ {report['vms_before'] / 2**20:.0f} MiB before analysis, "
        f"{report['vms_after'] / 2**20:.0f} MiB after; limit {DEFAULT_JOB_MEMORY / 2**20:.0f} MiB"
    )
    assert report[str(wav)] == 30 and report[str(m4a)] in (30, 31)
    assert report["runaway"] == "MemoryError"
    assert report["vms_after"] < DEFAULT_JOB_MEMORY * 0.6

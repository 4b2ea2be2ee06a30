"""A corpus of bad files: each ends as a clean job (or a clean refusal); the server serves on."""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path
from typing import Any

import httpx

from tests.hardening import corpus
from tests.hardening.conftest import job_end
from tests.support.client import upload
from tests.support.isolated import run_python
from tests.support.media_server import serve_media
from tests.support.server import ServiceProcess
from tests.support.signals import music_wav


async def _submit_all(server: ServiceProcess, files: dict[str, bytes]) -> dict[str, Any]:
    """Upload every file at once; return each one's refusal or finished job record."""

    async def one(http: httpx.AsyncClient, name: str, data: bytes) -> Any:
        response = await http.post(server.url + "/api/analyze", files={"file": (name, data)})
        if response.status_code != 202:
            return response
        return await job_end(server.url, response.json()["job_id"])

    async with httpx.AsyncClient(timeout=60) as http:
        results = await asyncio.gather(*(one(http, n, d) for n, d in files.items()))
    return dict(zip(files, results, strict=True))


def _assert_clean_error(name: str, job: dict[str, Any], server: ServiceProcess) -> None:
    message = job["error"]["message"]
    # Nothing about the server's insides: no temp paths, no tracebacks.
    assert str(server.log.parent) not in message and "Traceback" not in message, (name, job)
    assert ".upload" not in message and "file:" not in message, (name, job)
    assert len(message) <= 300


async def _server_still_serves(server: ServiceProcess, tmp: Path) -> None:
    job_id = (await upload(server.url, music_wav(tmp / "good.wav", 3.0))).json()["job_id"]
    assert (await job_end(server.url, job_id))["status"] == "complete"
    async with httpx.AsyncClient() as http:
        assert (await http.get(server.url + "/health")).status_code == 200


async def test_files_without_audio_end_as_decode_errors(
    strict: ServiceProcess, tmp_path: Path
) -> None:
    with serve_media() as media:
        files = corpus.no_audio_at_all(tmp_path, media.url(""))
        results = await _submit_all(strict, files)
        requested = list(media.requests)
    for name, result in results.items():
        if isinstance(result, httpx.Response):  # refused at once: allowed for plain junk
            assert result.status_code in (400, 415), (name, result.text)
            assert result.json()["code"] in ("INVALID_REQUEST", "UNSUPPORTED_MEDIA")
            continue
        assert result["status"] == "error", (name, result)
        assert result["error"]["code"] == "DECODE_ERROR", (name, result)
        _assert_clean_error(name, result, strict)
    # The playlist's segments were never fetched: the decoder does not follow URLs in files.
    assert requested == []
    await _server_still_serves(strict, tmp_path)


async def test_damaged_files_are_analysed_for_what_they_hold(
    strict: ServiceProcess, tmp_path: Path
) -> None:
    results = await _submit_all(strict, corpus.damaged_but_decodable())
    outcomes = {}
    for name, job in results.items():
        assert not isinstance(job, httpx.Response), (name, job.text)
        if job["status"] == "error":
            assert job["error"]["code"] == "DECODE_ERROR", (name, job)
            _assert_clean_error(name, job, strict)
            outcomes[name] = "DECODE_ERROR"
            continue
        assert job["status"] == "complete", (name, job)
        async with httpx.AsyncClient() as http:
            analysis = (await http.get(f"{strict.url}/api/jobs/{job['job_id']}/analysis")).json()
        # A header's claim never adds audio that is not there.
        assert 0 < len(analysis["segments"]) <= corpus.SECONDS, (name, len(analysis["segments"]))
        outcomes[name] = f"complete, {len(analysis['segments'])} s"
    print("damaged files:", outcomes)
    assert outcomes["lying-size.wav"] == f"complete, {int(corpus.SECONDS)} s"
    await _server_still_serves(strict, tmp_path)


_TIGHT_MEMORY = """
import json, resource, sys
from audio_service.analysis import open_audio
from audio_service.errors import DecodeError

# Room for a few blocks of ordinary audio, none for a buffer sized from a lying header.
vms = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (vms + 64 * 2**20, resource.RLIM_INFINITY))
outcomes = {}
for path in sys.argv[1:]:
    try:
        with open_audio(path, max_duration=600) as source:
            outcomes[path] = sum(len(block) for block in source.blocks())
    except DecodeError:
        outcomes[path] = "DecodeError"
    except MemoryError:
        outcomes[path] = "MemoryError"
print(json.dumps(outcomes))
"""


def test_absurd_headers_are_refused_before_any_large_allocation(tmp_path: Path) -> None:
    """The decoder, under an address-space limit just above its own size."""
    wav = corpus.valid_wav()
    headers = {
        "zero-channels": corpus.patch(wav, 22, struct.pack("<H", 0)),
        "65535-channels": corpus.patch(wav, 22, struct.pack("<H", 65535)),
        "2^31-hz": corpus.patch(wav, 24, struct.pack("<I", 2**31)),
        "1-hz": corpus.patch(wav, 24, struct.pack("<I", 1)),
    }
    paths = []
    for name, data in headers.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    valid = tmp_path / "valid"
    valid.write_bytes(wav)
    stdout = run_python("-c", _TIGHT_MEMORY, str(valid), *paths, timeout=60)
    outcomes = json.loads(stdout.splitlines()[-1])
    assert outcomes.pop(str(valid)) > 0, "the limit leaves no room for ordinary audio"
    assert set(outcomes.values()) == {"DecodeError"}, outcomes

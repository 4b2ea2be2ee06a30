"""A corpus of bad files: each ends as a clean job (or a clean refusal); the server serves on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.hardening import corpus
from tests.hardening.conftest import job_end
from tests.support.audio import music_wav
from tests.support.client import upload
from tests.support.media_server import serve_media
from tests.support.server import ServiceProcess


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

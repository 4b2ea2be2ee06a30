"""Job ids are capabilities: 128 random bits, never listed, and every wrong id (unknown,
malformed, one character off a real one) gets one and the same answer.
"""

from __future__ import annotations

import base64
from pathlib import Path

import httpx

from tests.hardening.conftest import job_end
from tests.hardening.rawsocket import RawSocket
from tests.support.client import upload
from tests.support.server import ServiceProcess
from tests.support.signals import music_wav

NOT_FOUND = {"error": "no such job", "code": "JOB_NOT_FOUND"}


def _near_miss(job_id: str) -> str:
    return job_id[:-1] + ("A" if job_id[-1] != "A" else "B")


def _wrong_ids(real: str) -> list[str]:
    return [
        _near_miss(real),
        "A" * 22,
        real.lower() if real.lower() != real else real.upper(),
        real + "A",
        "!",
        "%00",
        "' OR 1=1 --",
        "*",
        "{}",
        "\u00e9\u00e9\u00e9",
        "a" * 5000,
    ]


async def test_wrong_ids_all_get_the_same_answer(strict: ServiceProcess, tmp_path: Path) -> None:
    real = (await upload(strict.url, music_wav(tmp_path / "a.wav", 1.0))).json()["job_id"]
    assert (await job_end(strict.url, real))["status"] == "complete"
    assert len(base64.urlsafe_b64decode(real + "==")) == 16
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{strict.url}/api/jobs/{real}")).status_code == 200
        for wrong in _wrong_ids(real):
            for method, path in (
                ("GET", f"/api/jobs/{wrong}"),
                ("GET", f"/api/job/{wrong}"),
                ("GET", f"/api/jobs/{wrong}/analysis"),
                ("DELETE", f"/api/jobs/{wrong}"),
            ):
                response = await http.request(method, strict.url + path)
                assert (response.status_code, response.json()) == (404, NOT_FOUND), (
                    method,
                    path[:60],
                )
        # No endpoint lists jobs.
        assert (await http.get(f"{strict.url}/api/jobs")).status_code in (404, 405)
    raw = await RawSocket.open(strict.url)
    try:
        answers = set()
        for wrong in _wrong_ids(real)[:-1]:  # the last is longer than a job id may be
            ack, _ = await raw.call("subscribe", {"job_id": wrong})
            answers.add((ack["code"], ack["message"]))
        assert answers == {("JOB_NOT_FOUND", "no such job")}
    finally:
        await raw.close()

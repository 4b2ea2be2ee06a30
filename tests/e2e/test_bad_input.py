"""Bad input gets a clear, documented error, and the connection or server stays up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.client import Recorder, upload
from tests.support.server import ServiceProcess

BAD_SUBSCRIBES: list[tuple[Any, str]] = [
    (None, "INVALID_PAYLOAD"),
    ("a-string", "INVALID_PAYLOAD"),
    (["a", "list"], "INVALID_PAYLOAD"),
    ({}, "INVALID_JOB"),
    ({"job_id": ""}, "INVALID_JOB"),
    ({"job_id": 42}, "INVALID_JOB"),
    ({"job_id": "x" * 10_000}, "INVALID_JOB"),
    ({"job_id": "no-such-job"}, "JOB_NOT_FOUND"),
    ({"job_id": "no-such-job", "last_seq": "3"}, "INVALID_PAYLOAD"),
    ({"job_id": "no-such-job", "last_seq": -1}, "INVALID_PAYLOAD"),
]


@pytest.mark.parametrize(("payload", "code"), BAD_SUBSCRIBES)
async def test_bad_subscribe_gets_error_event_and_ack(
    service: ServiceProcess, payload: Any, code: str
) -> None:
    client = await Recorder(service.url).connect()
    try:
        if payload is None:
            ack = await client.sio.call("subscribe", timeout=10)
        else:
            ack = await client.sio.call("subscribe", payload, timeout=10)
        assert ack["ok"] is False and ack["code"] == code and ack["message"]
        await client.sio.sleep(0.05)
        assert [e["code"] for e in client.errors] == [code]
        assert client.errors[0]["type"] == "error"
        if code == "JOB_NOT_FOUND":  # about a job: says which one, in the event and the ack
            assert client.errors[0]["job_id"] == ack["job_id"] == payload["job_id"]
        # The connection is still usable.
        ack = await client.sio.call("unsubscribe", {"job_id": "no-such-job"}, timeout=10)
        assert ack["code"] == "JOB_NOT_FOUND" and client.sio.connected
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "job_id is required"),
        ({"job_id": None}, "job_id is required"),
        ({"job_id": 123}, "job_id must be a string"),
        ({"job_id": ["a"]}, "job_id must be a string"),
        ({"job_id": ""}, "job_id must not be empty"),
    ],
)
async def test_wrong_types_get_precise_messages(
    service: ServiceProcess, payload: Any, message: str
) -> None:
    client = await Recorder(service.url).connect()
    try:
        ack = await client.sio.call("subscribe", payload, timeout=10)
        assert ack == {"ok": False, "code": "INVALID_JOB", "message": message}
    finally:
        await client.close()


async def test_unknown_event_is_answered_not_dropped(service: ServiceProcess) -> None:
    client = await Recorder(service.url).connect()
    try:
        ack = await client.sio.call("launch_missiles", {"now": True}, timeout=10)
        assert ack == {"ok": False, "code": "UNKNOWN_EVENT", "message": ack["message"]}
        assert client.sio.connected
    finally:
        await client.close()


async def test_non_audio_upload_ends_job_with_decode_error(
    service: ServiceProcess, tmp_path: Path
) -> None:
    fake = tmp_path / "notes.wav"
    fake.write_text("these are not the samples you are looking for\n" * 100)
    client = await Recorder(service.url).connect()
    try:
        response = await upload(service.url, fake)
        if response.status_code == 415:  # refusing at once is allowed too
            assert response.json()["code"] == "UNSUPPORTED_MEDIA"
            return
        job_id = response.json()["job_id"]
        await client.subscribe(job_id)
        events = await client.wait_end(job_id)
        assert events[-1][0] == "error" and events[-1][1]["code"] == "DECODE_ERROR"
        # The user's file name, not the server's temp file.
        assert events[-1][1]["message"].startswith("notes.wav: "), events[-1][1]
        async with httpx.AsyncClient() as http:
            job = (await http.get(f"{service.url}/api/jobs/{job_id}")).json()
            analysis = await http.get(f"{service.url}/api/jobs/{job_id}/analysis")
        assert job["status"] == "error" and job["error"]["code"] == "DECODE_ERROR"
        assert job["error"]["message"]
        assert analysis.status_code == 409 and analysis.json()["code"] == "NOT_READY"
    finally:
        await client.close()


@pytest.mark.parametrize(
    "path", ["/api/jobs/unknown", "/api/job/unknown", "/api/jobs/unknown/analysis"]
)
async def test_unknown_job_is_404(service: ServiceProcess, path: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(service.url + path)
        deleted = await http.delete(service.url + "/api/jobs/unknown")
    assert response.status_code == 404
    assert response.json() == {"error": "no such job", "code": "JOB_NOT_FOUND"}
    assert deleted.status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"url": 5}, 400),
        ({"url": "file:///etc/passwd"}, 400),
        ({"url": "ftp://example.com/a.mp3"}, 400),
        ({"youtube_url": "not a url"}, 400),
        ({"url": "https://example.com/a.mp3", "extra": 1}, 400),
    ],
)
async def test_bad_analyze_bodies(service: ServiceProcess, body: Any, status: int) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(service.url + "/api/analyze", json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "code"}


async def test_wrong_content_type_and_garbage_json(service: ServiceProcess) -> None:
    async with httpx.AsyncClient() as http:
        text = await http.post(
            service.url + "/api/analyze", content=b"hi", headers={"content-type": "text/plain"}
        )
        garbage = await http.post(
            service.url + "/api/analyze",
            content=b"{nope",
            headers={"content-type": "application/json"},
        )
        no_file = await http.post(service.url + "/api/analyze", files={"other": ("a.txt", b"x")})
    assert text.status_code == 415 and text.json()["code"] == "UNSUPPORTED_MEDIA"
    assert garbage.status_code == 400 and garbage.json()["code"] == "INVALID_REQUEST"
    assert no_file.status_code == 400 and no_file.json()["code"] == "INVALID_REQUEST"

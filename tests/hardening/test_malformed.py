"""Malformed input that used to escape as an unhandled error now gets a documented answer.

From the review: a 2-byte frame python-socketio cannot decode logged about 1 KB of
traceback (300 of them in 40 ms) and the connection stayed open; an event named by a
list raised TypeError with no ack; deeply nested JSON was a RecursionError (500); a host
label of 64 characters, or an empty one, a UnicodeError from the IDNA codec (500).
"""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.hardening.rawsocket import RawSocket
from tests.support.client import Recorder
from tests.support.server import ServiceProcess


async def test_undecodable_frames_are_logged_once_and_the_connection_dropped(
    strict: ServiceProcess,
) -> None:
    bystander = await Recorder(strict.url).connect()
    raw = await RawSocket.open(strict.url)
    logged_before = strict.output().count("is not Socket.IO")
    sent = 0
    try:
        for _ in range(300):
            await raw.send("4x")  # an engine.io MESSAGE that is no Socket.IO packet
            sent += 1
        await raw.drain(quiet=2)
    except ConnectionClosed:
        pass
    assert raw.closed, "the connection stayed open under a stream of garbage frames"
    # One line for the whole connection, no traceback.
    output = strict.output()
    assert output.count("is not Socket.IO") - logged_before == 1
    assert "Traceback" not in output
    # Nobody else noticed.
    ack = await bystander.sio.call("unsubscribe", {"job_id": "no-such-job"}, timeout=10)
    assert ack["code"] == "JOB_NOT_FOUND"
    await bystander.close()
    print(f"\ndropped after {sent} frames sent (the server reads up to 5 of them)")


@pytest.mark.parametrize(
    "frame",
    ["421[[1,2]]", '421[{"job_id":"x"}]', "421[]", '421[null,{"job_id":"x"}]', "421[7]"],
)
async def test_an_event_not_named_by_a_string_gets_an_error_ack(
    strict: ServiceProcess, frame: str
) -> None:
    raw = await RawSocket.open(strict.url)
    try:
        await raw.send(frame)
        while not (packet := await raw.recv(10)).startswith("431["):
            pass
        ack = json.loads(packet[3:])[0]
        assert ack["ok"] is False and ack["code"] == "UNKNOWN_EVENT", ack
        assert not raw.closed
    finally:
        await raw.close()
    assert "TypeError" not in strict.output()


@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_deeply_nested_json_is_a_400(strict: ServiceProcess, depth: int) -> None:
    body = "[" * depth + "]" * depth
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            strict.url + "/api/analyze", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code in (400, 413), response.text
    assert response.json()["code"] in ("INVALID_REQUEST", "TOO_LARGE")


@pytest.mark.parametrize(
    "url",
    [
        "http://" + "a" * 64 + ".example/x.mp3",  # a label over 63 characters
        "http://a..example/x.mp3",  # an empty label
        "http://.example/x.mp3",
        "http://xn--a.example/x.mp3",  # a punycode label that does not decode
    ],
)
async def test_bad_host_labels_are_invalid_urls(strict: ServiceProcess, url: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(strict.url + "/api/analyze", json={"url": url})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_URL"

"""Socket payloads of every wrong shape are answered, not fatal; sizes and rates are bounded.

Spoken by hand (:class:`RawSocket`): python-socketio's client would refuse to send most of
these. Every refusal must come as an ``error`` event *and* an error ack, on a connection
that still works afterwards.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from audio_service.websocket.server import MAX_CLIENT_MESSAGE_BYTES
from tests.hardening.conftest import STRICT
from tests.hardening.rawsocket import RawSocket, events_of
from tests.support.server import ServiceProcess

JOB = "A" * 22  # well-formed, unknown

SUBSCRIBE_PAYLOADS: list[tuple[list[Any], str]] = [
    ([], "INVALID_PAYLOAD"),  # no payload at all
    ([None], "INVALID_PAYLOAD"),
    (["a-string"], "INVALID_PAYLOAD"),
    ([12], "INVALID_PAYLOAD"),
    ([True], "INVALID_PAYLOAD"),
    ([["job_id", JOB]], "INVALID_PAYLOAD"),
    ([{}], "INVALID_JOB"),
    ([{"job_id": None}], "INVALID_JOB"),
    ([{"job_id": ""}], "INVALID_JOB"),
    ([{"job_id": 7}], "INVALID_JOB"),
    ([{"job_id": [JOB]}], "INVALID_JOB"),
    ([{"job_id": {"$ne": ""}}], "INVALID_JOB"),
    ([{"job_id": "x" * 60_000}], "INVALID_JOB"),  # huge, still under the message limit
    ([{"job_id": JOB, "last_seq": "3"}], "INVALID_PAYLOAD"),
    ([{"job_id": JOB, "last_seq": -1}], "INVALID_PAYLOAD"),
    ([{"job_id": JOB, "last_seq": 1.5}], "INVALID_PAYLOAD"),
    ([{"job_id": JOB, "last_seq": True}], "INVALID_PAYLOAD"),
    ([{"job_id": JOB, "last_seq": [1]}], "INVALID_PAYLOAD"),
    # Past what Redis stream ids (2^64) or JavaScript numbers (2^53) hold: refused before
    # any back-end sees it (on Redis it was a ResponseError and a silent disconnect).
    ([{"job_id": JOB, "last_seq": 10**40}], "INVALID_PAYLOAD"),
    ([{"job_id": JOB, "last_seq": 2**64}], "INVALID_PAYLOAD"),
    ([{"job_id": JOB, "last_seq": 2**53}], "INVALID_PAYLOAD"),
    ([{"job_id": JOB, "last_seq": 2**53 - 1}], "JOB_NOT_FOUND"),
    ([{"job_id": JOB, "epoch": 5}], "INVALID_PAYLOAD"),
    ([{"job_id": JOB, "epoch": "e" * 65}], "INVALID_PAYLOAD"),
    ([{"job_id": JOB}, {"extra": "argument"}, 3], "JOB_NOT_FOUND"),
    ([{"job_id": "../../etc/passwd"}], "JOB_NOT_FOUND"),
    ([{"job_id": "*"}], "JOB_NOT_FOUND"),
    ([{"job_id": "\u0000\ud7ff\U0001f600"}], "JOB_NOT_FOUND"),
]

UNKNOWN_EVENTS = ["launch_missiles", "message", "connect", "disconnect", "x" * 5000, "", "42"]


async def _refused(raw: RawSocket, *args: Any) -> tuple[dict[str, Any], list[Any]]:
    """Call and return the ack with the ``error`` events that came with it."""
    ack, events = await raw.call(*args)
    assert ack["ok"] is False and ack["message"], ack
    errors = [data for name, data in events if name == "error"]
    return ack, errors


async def test_every_malformed_payload_gets_an_error_event_and_ack(
    strict: ServiceProcess,
) -> None:
    raw = await RawSocket.open(strict.url)
    try:
        for event in ("subscribe", "unsubscribe"):
            for args, code in SUBSCRIBE_PAYLOADS:
                ack, errors = await _refused(raw, event, *args)
                assert ack["code"] == code, (event, str(args)[:60], ack)
                assert [e["code"] for e in errors] == [code], (event, str(args)[:60], errors)
                # A reply to this socket, not an event of a job's log: no seq. A refusal
                # about a well-formed job id names it; a malformed payload names none.
                assert errors[0]["type"] == "error" and "seq" not in errors[0]
                assert ("job_id" in errors[0]) == (code == "JOB_NOT_FOUND"), errors[0]
                await asyncio.sleep(0.06)  # stay inside the per-socket event rate
        for name in UNKNOWN_EVENTS:
            ack, errors = await _refused(raw, name, {"now": True})
            assert ack["code"] == errors[0]["code"] == "UNKNOWN_EVENT", (name[:20], ack)
            assert len(ack["message"]) < 100  # a 5000-character name is not echoed whole
            await asyncio.sleep(0.06)
        ack, _ = await _refused(raw, "subscribe", {"job_id": JOB})
        assert ack["code"] == "JOB_NOT_FOUND" and not raw.closed
    finally:
        await raw.close()


async def test_binary_attachments_are_refused_as_payloads(strict: ServiceProcess) -> None:
    raw = await RawSocket.open(strict.url)
    try:
        # A BINARY_EVENT with one attachment: the payload arrives as bytes, not an object.
        await raw.send('451-0["subscribe",{"_placeholder":true,"num":0}]')
        await raw.ws.send(b"\x00\x01binary")
        packets = await raw.drain()
        acks = [json.loads(p[3:])[0] for p in packets if p.startswith("430")]
        assert acks and acks[0]["code"] == "INVALID_PAYLOAD", packets
        assert ("error", {"type": "error", **_without_type(acks[0])}) in events_of(packets)
        assert not raw.closed
    finally:
        await raw.close()


def _without_type(ack: dict[str, Any]) -> dict[str, Any]:
    return {"code": ack["code"], "message": ack["message"]}


async def test_reserved_event_names_do_not_reset_the_rate_limit(strict: ServiceProcess) -> None:
    """A client *event* named "disconnect" or "connect" once reached the real handlers:
    it dropped the socket's token bucket (no more rate limit) and re-greeted it."""
    raw = await RawSocket.open(strict.url)
    try:
        for name in ("disconnect", "connect"):
            ack, _ = await _refused(raw, name, "client disconnect")
            assert ack["code"] == "UNKNOWN_EVENT"
        burst = 3 * int(STRICT["socket_events_per_second"])  # type: ignore[call-overload]
        for _ in range(burst):
            await raw.emit("subscribe", {"job_id": JOB}, ack=True)
        packets = await raw.drain()
        codes = [json.loads(p[p.index("[") :])[0]["code"] for p in packets if p.startswith("43")]
        assert len(codes) == burst
        assert codes.count("RATE_LIMITED") >= burst // 2, codes
        assert "connected" not in [name for name, _ in events_of(packets)]
        await asyncio.sleep(1.1)  # the bucket refills: the socket is usable again
        ack, _ = await _refused(raw, "subscribe", {"job_id": JOB})
        assert ack["code"] == "JOB_NOT_FOUND"
    finally:
        await raw.close()


async def test_a_message_over_the_limit_closes_only_that_connection(
    strict: ServiceProcess,
) -> None:
    bystander = await RawSocket.open(strict.url)
    raw = await RawSocket.open(strict.url)
    try:
        big = {"job_id": "x" * (MAX_CLIENT_MESSAGE_BYTES + 1)}
        await raw.emit("subscribe", big, ack=True)
        assert await raw.drain(quiet=5) == [] and raw.closed
        ack, _ = await _refused(bystander, "subscribe", {"job_id": JOB})
        assert ack["code"] == "JOB_NOT_FOUND"
    finally:
        await raw.close()
        await bystander.close()


@pytest.mark.parametrize(
    "body",
    [b"4" + b"x" * (MAX_CLIENT_MESSAGE_BYTES + 1), b"6"],
    ids=["over the limit", "a packet only servers send"],
)
async def test_a_refused_polling_post_is_answered_at_once(
    strict: ServiceProcess, body: bytes
) -> None:
    """python-engineio alone leaves such a request hanging until the client gives up, and
    keeps its coroutine and session for good."""
    async with httpx.AsyncClient(timeout=5) as http:
        url = strict.url + "/socket.io/?EIO=4&transport=polling"
        sid = json.loads((await http.get(url)).text[1:])["sid"]
        refused = await http.post(f"{url}&sid={sid}", content=body)
        after = await http.get(f"{url}&sid={sid}")
    assert refused.status_code == 400
    assert after.status_code == 400, "the refused session is closed"


async def test_unknown_namespace_is_refused(strict: ServiceProcess) -> None:
    raw = await RawSocket.open(strict.url)
    try:
        await raw.send("40/admin,")
        packets = await raw.drain()
        assert any(p.startswith("44/admin,") for p in packets), packets
    finally:
        await raw.close()

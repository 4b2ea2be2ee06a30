"""Per-socket caps: subscriptions held at once, and events per second."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.hardening.conftest import DELIVERY
from tests.hardening.rawsocket import RawSocket, events_of
from tests.support.client import upload
from tests.support.server import ServiceProcess

CAP = int(DELIVERY["max_subscriptions_per_socket"])
RATE = float(DELIVERY["socket_events_per_second"])


async def _long_jobs(server: ServiceProcess, tmp: Path, count: int) -> list[str]:
    """Jobs that stream for seconds (60 chunks, paced), so subscriptions to them persist."""
    path = tmp / "long.wav"
    rng = np.random.default_rng(13)
    sf.write(path, 0.1 * rng.standard_normal(60 * 8000), 8000)
    responses = await asyncio.gather(*(upload(server.url, path) for _ in range(count)))
    return [r.json()["job_id"] for r in responses]


async def test_subscriptions_per_socket_are_capped(
    delivery: ServiceProcess, tmp_path: Path
) -> None:
    jobs = await _long_jobs(delivery, tmp_path, CAP + 1)
    raw = await RawSocket.open(delivery.url)
    try:
        for job_id in jobs[:CAP]:
            ack, _ = await raw.call("subscribe", {"job_id": job_id})
            assert ack["ok"], ack
        ack, events = await raw.call("subscribe", {"job_id": jobs[CAP]})
        assert ack["ok"] is False and ack["code"] == "TOO_MANY_SUBSCRIPTIONS", ack
        assert [d["code"] for n, d in events if n == "error"] == ["TOO_MANY_SUBSCRIPTIONS"]
        # Subscribing again to a job already held is a resume, not one more subscription.
        ack, _ = await raw.call("subscribe", {"job_id": jobs[0], "last_seq": 1})
        assert ack["ok"], ack
        ack, _ = await raw.call("unsubscribe", {"job_id": jobs[0]})
        assert ack["ok"], ack
        ack, _ = await raw.call("subscribe", {"job_id": jobs[CAP]})
        assert ack["ok"], ack
    finally:
        await raw.close()


async def test_events_per_second_are_capped(delivery: ServiceProcess) -> None:
    raw = await RawSocket.open(delivery.url)
    try:
        burst = int(3 * RATE)
        for _ in range(burst):
            await raw.emit("unsubscribe", {"job_id": "no-such-job"}, ack=True)
        packets = await raw.drain()
        codes = [json.loads(p[p.index("[") :])[0]["code"] for p in packets if p.startswith("43")]
        errors = [d["code"] for n, d in events_of(packets) if n == "error"]
        assert len(codes) == burst and sorted(errors) == sorted(codes)
        # The bucket holds one second's worth; the rest of an instant burst is refused.
        assert RATE - 2 <= codes.count("JOB_NOT_FOUND") <= RATE + 3, codes
        assert codes.count("RATE_LIMITED") >= burst - RATE - 3
        await asyncio.sleep(1.0)
        ack, _ = await raw.call("unsubscribe", {"job_id": "no-such-job"})
        assert ack["code"] == "JOB_NOT_FOUND" and not raw.closed
    finally:
        await raw.close()

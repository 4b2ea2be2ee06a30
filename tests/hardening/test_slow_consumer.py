"""A socket that stops reading is cut off at a bounded backlog and loses nothing by it;
the other sockets never wait for it.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import time
from pathlib import Path

import httpx

from tests.hardening.conftest import DELIVERY, job_end, pings
from tests.hardening.rawsocket import RawSocket
from tests.support.client import Recorder, upload
from tests.support.server import ServiceProcess
from tests.support.signals import music_wav

#: Seconds of audio in the job the slow socket replays: about 210 KB of events.
SECONDS = 120.0
#: Replays asked for at most: 8 MB it never reads, past the kernel's socket buffers.
REPLAYS = 40


async def _metric(server: ServiceProcess, name: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(server.url + "/metrics")).text
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _last_replay(packets: list[str], job_id: str) -> list[int]:
    """Seqs of the job's events in the last (possibly cut) replay the socket received."""
    runs: list[list[int]] = []
    for packet in packets:
        if not packet.startswith("42["):
            continue
        name, data = json.loads(packet[2:])
        if name in ("subscribed", "connected") or data.get("job_id") != job_id:
            continue
        if data["seq"] == 1:
            runs.append([])
        runs[-1].append(data["seq"])
    return runs[-1] if runs else []


async def test_slow_consumer_is_cut_off_and_resumes_without_loss(
    delivery: ServiceProcess, tmp_path: Path
) -> None:
    job_id = (await upload(delivery.url, music_wav(tmp_path / "song.wav", SECONDS))).json()[
        "job_id"
    ]
    assert (await job_end(delivery.url, job_id))["status"] == "complete"
    slow_before = await _metric(delivery, "audio_service_slow_consumer_disconnects_total")

    polite = await Recorder(delivery.url).connect()
    baseline: list[float] = []
    during: list[float] = []
    stop = asyncio.Event()
    await asyncio.wait_for(pings(polite, _stop_after(stop, 1.0), baseline), 10)

    # A small receive buffer and a one-frame client queue: the server's sends back up fast.
    slow = await RawSocket.open(delivery.url, rcvbuf=4096, max_queue=1)
    stop = asyncio.Event()
    pinger = asyncio.create_task(pings(polite, stop, during))
    cut_off_after = None
    started = time.monotonic()
    for i in range(REPLAYS):
        await slow.emit("subscribe", {"job_id": job_id})
        await asyncio.sleep(0.06)  # inside the socket's event rate: refused for size only
        if await _metric(delivery, "audio_service_slow_consumer_disconnects_total") > slow_before:
            cut_off_after = i + 1
            break
    stop.set()
    await pinger
    assert cut_off_after is not None, "the slow socket was never cut off"
    # ... and the server said why, naming the socket.
    assert f"socket {slow.sid} exceeded" in delivery.output()
    elapsed = time.monotonic() - started

    # The slow client wakes up, reads what reached it, and resumes from there.
    packets = await slow.drain(quiet=2)
    transport_closed = slow.closed
    await slow.close()
    # Its connection is dropped at once (what was queued for it is discarded), rather than
    # left for the websocket keepalive to end 30-60 s later.
    assert transport_closed, "the server left the slow client's connection open"
    got = _last_replay(packets, job_id)
    resumed = await polite.subscribe(job_id, last_seq=got[-1] if got else None)
    events = await polite.wait_end(job_id)
    seqs = got + [data["seq"] for _, data in events]
    assert seqs == list(range(1, resumed["last_seq"] + 1)), "lost or duplicated events"
    await polite.close()

    p95 = sorted(during)[int(0.95 * (len(during) - 1))]
    print(
        f"slow consumer cut off after {cut_off_after} replays ({elapsed:.2f} s, backlog bound "
        f"{DELIVERY['max_socket_backlog']} packets); it held {len(got)} events of the last "
        f"replay and resumed from seq {got[-1] if got else 0} (transport closed by the "
        f"server: {transport_closed}); other client's ack round trip: "
        f"median {statistics.median(baseline) * 1000:.1f} ms before, "
        f"median {statistics.median(during) * 1000:.1f} / p95 {p95 * 1000:.1f} / "
        f"max {max(during) * 1000:.1f} ms during"
    )
    assert len(during) >= 5
    # Never waiting for the slow socket: round trips stay those of a busy loopback server.
    assert statistics.median(during) < 0.1 and max(during) < 0.5


def _stop_after(event: asyncio.Event, seconds: float) -> asyncio.Event:
    asyncio.get_running_loop().call_later(seconds, event.set)
    return event

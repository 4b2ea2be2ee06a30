"""One socket cannot grow a node without bound: backlogs are bounded in bytes.

The attack from the review: subscribe again and again to a finished job with
``last_seq = last - 1``, so that each subscribe queues the whole ``complete`` event (about
400 KB for five minutes of audio) on a socket that never reads. The bound counted packets
(2,000), so one websocket grew the node by 63 MiB in 9.4 s and was never cut off. Now a
socket's queue is bounded in bytes too, the replay counts against it, the cut-off socket's
queue is dropped at once, and another client keeps its round trips meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.hardening.conftest import job_end, pings
from tests.hardening.rawsocket import RawSocket
from tests.support.client import Recorder, upload
from tests.support.server import ServiceProcess, run_server
from tests.support.signals import music_wav

#: Ten minutes of audio (the longest accepted): a ``complete`` event of about 500 KB.
SECONDS = 600.0
BOUND_BYTES = 2 * 1024 * 1024
#: How long the attack runs (the review's ran 9.4 s), and its connections in turn.
ATTACK_SECONDS = 9.0
#: Resident memory the node may gain under attack: the bound, one batch the socket's
#: writer holds, allocator slack. The unbounded node gained 63 MiB in the review.
ALLOWED_GROWTH = 24 * 1024 * 1024
#: A socket whose queue nobody drains for this long is closed.
STALL_SECONDS = 3.0


@pytest.fixture(scope="module")
def finished(node: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A finished ten-minute job (analysed once for the module)."""
    return asyncio.run(_finished_job(node, tmp_path_factory.mktemp("job")))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    settings = {
        "max_socket_backlog_bytes": BOUND_BYTES,
        "max_audio_duration": SECONDS,
        "socket_stall_seconds": STALL_SECONDS,
    }
    with run_server(tmp_path_factory.mktemp("bytes"), **settings) as server:
        yield server


async def _finished_job(node: ServiceProcess, tmp: Path) -> tuple[str, int, int]:
    """A complete job: its id, its last seq, and the size of its ``complete`` event."""
    job_id = (await upload(node.url, music_wav(tmp / "long.wav", SECONDS))).json()["job_id"]
    assert (await job_end(node.url, job_id, timeout=240))["status"] == "complete"
    polite = await Recorder(node.url).connect()
    try:
        ack = await polite.subscribe(job_id)
        events = await polite.wait_end(job_id, timeout=60)
    finally:
        await polite.close()
    async with httpx.AsyncClient(timeout=30) as http:
        size = len((await http.get(f"{node.url}/api/jobs/{job_id}/analysis")).content)
    assert events[-1][0] == "complete"
    return job_id, int(ack["last_seq"]), size


def _rss(node: ServiceProcess) -> int:
    return int(psutil.Process(node.process.pid).memory_info().rss)


async def _attack(node: ServiceProcess, job_id: str, last: int, until: float) -> int:
    """One connection re-subscribing without reading; returns how many subscribes it sent
    before the server cut it off (or the attack's time ran out)."""
    raw = await RawSocket.open(node.url, rcvbuf=4096, max_queue=1)
    sent = 0
    try:
        while time.monotonic() < until:
            await raw.emit("subscribe", {"job_id": job_id, "last_seq": last - 1})
            sent += 1
            await asyncio.sleep(0.05)  # the socket's event rate: 20 a second
    except Exception:
        pass  # the server closed the connection
    finally:
        raw.ws.transport.abort()
    return sent


@pytest.mark.timeout(400)  # the module's fixture analyses ten minutes of audio first
async def test_resubscribing_to_a_finished_job_in_a_loop_stays_under_the_bound(
    node: ServiceProcess, finished: tuple[str, int, int]
) -> None:
    job_id, last, complete_size = finished
    polite = await Recorder(node.url).connect()
    before = _rss(node)
    peak = before
    stop = asyncio.Event()
    round_trips: list[float] = []
    pinger = asyncio.create_task(pings(polite, stop, round_trips))

    async def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _rss(node))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    started = time.monotonic()
    until = started + ATTACK_SECONDS
    subscribes, connections = 0, 0
    while time.monotonic() < until:
        subscribes += await _attack(node, job_id, last, until)
        connections += 1
    stop.set()
    await asyncio.gather(pinger, watcher)
    cut_offs = node.output().count("exceeded")
    await polite.close()
    growth = peak - before
    print(
        f"\nattack: {subscribes} subscribes of a {complete_size / 1024:.0f} KB complete event "
        f"over {connections} connections in {time.monotonic() - started:.1f} s "
        f"(offered {subscribes * complete_size / 2**20:.0f} MiB); node RSS "
        f"{before / 2**20:.1f} -> peak {peak / 2**20:.1f} MiB (+{growth / 2**20:.1f} MiB, "
        f"bound {BOUND_BYTES / 2**20:.0f} MiB per socket); {cut_offs} cut off; other "
        f"client's round trip median {statistics.median(round_trips) * 1000:.1f} ms, "
        f"max {max(round_trips) * 1000:.1f} ms"
    )
    assert complete_size > 200_000, "the complete event is too small to make the point"
    assert subscribes * complete_size > 3 * ALLOWED_GROWTH, "the attack offered too little"
    assert cut_offs >= 1, "the attacking socket was never cut off"
    # Its connection was dropped, not left to linger: the attacker had to reconnect.
    assert connections > 1
    assert growth < ALLOWED_GROWTH
    assert statistics.median(round_trips) < 0.1 and max(round_trips) < 1.0


async def test_a_polling_session_that_stops_polling_is_closed(
    node: ServiceProcess, finished: tuple[str, int, int]
) -> None:
    """Long-polling: the client subscribes, then never GETs again and only POSTs pongs,
    which kept its session (and the queued replay) alive for good."""
    job_id, last, _ = finished
    base = f"{node.url}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient(timeout=30) as http:
        opening = (await http.get(base)).text
        sid = json.loads(opening[1:])["sid"]
        session = f"{base}&sid={sid}"
        assert (await http.post(session, content="40")).status_code == 200
        assert "40{" in (await http.get(session)).text
        subscribe = json.dumps(["subscribe", {"job_id": job_id, "last_seq": last - 1}])
        assert (await http.post(session, content="42" + subscribe)).status_code == 200
        started = time.monotonic()
        closed_after = None
        while time.monotonic() - started < STALL_SECONDS + 30:
            await asyncio.sleep(0.5)
            # A pong without a ping: what kept the session alive without a single GET.
            if (await http.post(session, content="3")).status_code != 200:
                closed_after = time.monotonic() - started
                break
    print(f"\npolling session that stopped polling closed after {closed_after} s")
    assert closed_after is not None, "the session that stopped polling stayed open"
    assert "socket" in node.output() and "took no packet" in node.output()

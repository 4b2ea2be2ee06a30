"""Time from POST /api/analyze to the first chunk and to `complete` at a real client.

Starts the real service (embedded back-end) in a subprocess, uploads a generated 5-minute
WAV five times, and prints the medians.   .venv/bin/python bench/bench_latency.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.client import Recorder, upload  # noqa: E402
from tests.support.server import run_server  # noqa: E402
from tests.support.signals import music_wav  # noqa: E402

RUNS = 5
SECONDS = 300.0


async def one_run(url: str, wav: Path) -> tuple[float, float]:
    client = await Recorder(url).connect()
    first: list[float] = []

    def on_chunk(data: dict[str, object]) -> None:
        if not first:
            first.append(time.perf_counter())

    client.sio.on("chunk", on_chunk)
    try:
        start = time.perf_counter()
        job_id = (await upload(url, wav)).json()["job_id"]
        await client.subscribe(job_id)
        events = await client.wait_end(job_id, timeout=300)
        done = time.perf_counter()
        assert events[-1][0] == "complete", events[-1]
        return first[0] - start, done - start
    finally:
        await client.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wav = music_wav(Path(tmp) / "five-minutes.wav", SECONDS, seed=11)
        with run_server(Path(tmp)) as server:
            await one_run(server.url, wav)  # warm-up, not counted
            results = [await one_run(server.url, wav) for _ in range(RUNS)]
    firsts = [r[0] for r in results]
    totals = [r[1] for r in results]
    print(f"| 5-minute WAV, embedded back-end (median of {RUNS}) | seconds |")
    print("|---|---|")
    print(f"| POST /api/analyze -> first chunk at the client | {statistics.median(firsts):.3f} |")
    print(f"| POST /api/analyze -> complete at the client | {statistics.median(totals):.3f} |")
    print(f"| real-time factor, end to end | {SECONDS / statistics.median(totals):.0f}x |")


if __name__ == "__main__":
    asyncio.run(main())

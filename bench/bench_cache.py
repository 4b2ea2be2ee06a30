"""Repeated upload vs first upload, with the analysis cache on (ANALYSIS_CACHE=true).

Starts the real service (embedded back-end, or Redis with ``--redis URL``), and for each of
RUNS distinct generated 5-minute WAVs measures POST /api/analyze -> ``complete`` at a real
client for the first upload and for the same bytes again; prints the medians and their
ratio.   .venv/bin/python bench/bench_cache.py [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.client import Recorder, upload  # noqa: E402
from tests.support.server import run_server, run_worker  # noqa: E402
from tests.support.signals import music_wav  # noqa: E402

RUNS = 3
SECONDS = 300.0


async def timed(url: str, wav: Path) -> tuple[float, dict[str, object]]:
    client = await Recorder(url).connect()
    try:
        start = time.perf_counter()
        job_id = (await upload(url, wav)).json()["job_id"]
        await client.subscribe(job_id)
        events = await client.wait_end(job_id, timeout=300)
        elapsed = time.perf_counter() - start
        assert events[-1][0] == "complete", events[-1]
        return elapsed, events[-1][1]["analysis"]  # type: ignore[return-value]
    finally:
        await client.close()


async def measure(url: str, tmp: Path) -> tuple[list[float], list[float]]:
    warm = music_wav(tmp / "warm.wav", 10.0, seed=99)
    await timed(url, warm)  # the first job pays for the forkserver: not counted
    firsts, repeats = [], []
    for run in range(RUNS):
        wav = music_wav(tmp / f"song-{run}.wav", SECONDS, seed=100 + run)
        first, analysis = await timed(url, wav)
        repeat, again = await timed(url, wav)
        assert again == analysis, "the cached analysis differs"
        firsts.append(first)
        repeats.append(repeat)
    return firsts, repeats


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="", help="run a node and a worker on this Redis")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        tmp = Path(name)
        settings: dict[str, object] = {"analysis_cache": "true"}
        if args.redis:
            settings |= {"redis_url": args.redis, "redis_prefix": f"bench-{secrets.token_hex(4)}"}
        server = stack.enter_context(run_server(tmp, **settings))
        if args.redis:
            stack.enter_context(run_worker(tmp, **settings))
        firsts, repeats = await measure(server.url, tmp)
    first, repeat = statistics.median(firsts), statistics.median(repeats)
    backend = "Redis" if args.redis else "embedded"
    print(f"| 5-minute WAV, {backend} back-end (median of {RUNS} songs) | seconds |")
    print("|---|---|")
    print(f"| first upload: POST -> complete at the client | {first:.3f} |")
    print(f"| same bytes again (cache hit) | {repeat:.3f} |")
    print(f"| ratio repeat / first | {repeat / first:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())

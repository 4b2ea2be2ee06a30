"""Repeated upload vs first upload, with the analysis cache on (ANALYSIS_CACHE=true).

Starts the real service (embedded back-end, or Redis with ``--redis URL``), and for each of
RUNS distinct generated 5-minute songs, as MP3 and as WAV, measures at a real client the
first upload and the same bytes again: POST /api/analyze -> ``complete`` (the upload
included), and the answer of the POST -> ``complete`` (the job alone). Prints the medians
and the ratios.   .venv/bin/python bench/bench_cache.py [--redis redis://127.0.0.1:6379/0]
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

from tests.conftest import delete_prefix  # noqa: E402
from tests.support.client import Recorder, upload  # noqa: E402
from tests.support.server import run_server, run_worker  # noqa: E402
from tests.support.signals import SR, music, music_wav, write  # noqa: E402

RUNS = 3
SECONDS = 300.0


async def timed(url: str, song: Path) -> tuple[float, float, dict[str, object]]:
    """Seconds from the POST and from its answer to ``complete``, and the analysis."""
    client = await Recorder(url).connect()
    try:
        start = time.perf_counter()
        job_id = (await upload(url, song)).json()["job_id"]
        answered = time.perf_counter()
        await client.subscribe(job_id)
        events = await client.wait_end(job_id, timeout=300)
        done = time.perf_counter()
        assert events[-1][0] == "complete", events[-1]
        return done - start, done - answered, events[-1][1]["analysis"]  # type: ignore[return-value]
    finally:
        await client.close()


async def measure(url: str, tmp: Path, fmt: str) -> list[tuple[float, float, float, float]]:
    """Per song: (first total, first job, repeat total, repeat job) in seconds."""
    results = []
    for run in range(RUNS):
        song = write(tmp / f"song-{run}.{fmt}", music(SECONDS, seed=100 + run), sr=SR, format=fmt)
        first_total, first_job, analysis = await timed(url, song)
        repeat_total, repeat_job, again = await timed(url, song)
        assert again == analysis, "the cached analysis differs"
        results.append((first_total, first_job, repeat_total, repeat_job))
    return results


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
        # The first job pays for the forkserver: not counted.
        await timed(server.url, music_wav(tmp / "warm.wav", 10.0, seed=99))
        tables = {fmt: await measure(server.url, tmp, fmt) for fmt in ("mp3", "wav")}
    if args.redis:
        delete_prefix(args.redis, str(settings["redis_prefix"]))
    backend = "Redis" if args.redis else "embedded"
    print(f"5-minute songs, {backend} back-end, median of {RUNS} songs, seconds\n")
    print("| format | measured from | first upload | same bytes again | ratio |")
    print("|---|---|---|---|---|")
    for fmt, rows in tables.items():
        for label, first, repeat in (("the POST", 0, 2), ("the POST's answer", 1, 3)):
            a = statistics.median(r[first] for r in rows)
            b = statistics.median(r[repeat] for r in rows)
            print(f"| {fmt.upper()} | {label} | {a:.3f} | {b:.3f} | {b / a:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())

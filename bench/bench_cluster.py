"""The same fan-out workload on the embedded back-end (one node) and on Redis (two nodes).

    .venv/bin/python bench/bench_cluster.py [--jobs 100] [--subscribers 5] [--chunks 300]
                                            [--rate 20] [--runs 3] [--no-write]

Each job gets ``--subscribers`` websocket clients (on Redis, alternately on node A and B),
then ``--chunks`` chunks and a ``complete`` are published through ``JobService.publish``, as
the job runner does: inside the node for memory, from a separate worker-like process for
Redis. Two runs per back-end: *burst* (every job publishes flat out: delivered events/s)
and *paced* (``--rate`` chunks/s per job: end-to-end latency, publish call -> client
receipt, one machine clock). Redis runs in a redis-server of the benchmark's own, so that
INFO commandstats counts only this workload's commands (including those run by scripts).
The clients are raw Engine.IO/Socket.IO websockets, lighter than python-socketio's client,
so that the clients cost the shared CPU as little as possible.

The figure that matters is the cluster's cost: server-side CPU (nodes, Redis, publisher) per
delivered event, on Redis against embedded, medians of ``--runs`` runs with both back-ends
up at once and their runs interleaved. It is printed with its parts and written into
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis
import uvloop
import websockets
from fastapi import Request
from websockets.typing import Origin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.servers.control import synthetic_segment  # noqa: E402

ORIGIN = Origin("http://localhost:3000")
DOCS = ROOT / "docs" / "BENCHMARKS.md"
START = "<!-- bench_cluster:start -->"
END = "<!-- bench_cluster:end -->"


# -- inside the processes under test ------------------------------------------------------


async def publish_jobs(service: Any, job_ids: list[str], chunks: int, rate: float) -> None:
    """Every job publishes ``chunks`` chunks (``rate`` per second, 0: flat out), then ends."""
    from audio_service.protocol import ChunkMessage, CompleteMessage

    async def one(job_id: str, seed: int) -> None:
        rng = random.Random(seed)
        started = time.monotonic()
        for index in range(chunks):
            if rate:
                await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            segment = synthetic_segment(rng, index) | {"sent_at": time.time()}
            await service.publish(job_id, ChunkMessage(float(index), segment))
        await service.publish(job_id, CompleteMessage({"duration": float(chunks)}))

    await asyncio.gather(*(one(job_id, i) for i, job_id in enumerate(job_ids)))


async def create_jobs(service: Any, job_ids: list[str]) -> None:
    """Job records with their first event, as a submitted job has: its log, and the log's
    epoch, exist before anyone subscribes (a log created later is one lost and made anew)."""
    from audio_service.models import JobRecord, SourceKind
    from audio_service.protocol import ProgressMessage

    for job_id in job_ids:
        job = JobRecord(job_id=job_id, source_kind=SourceKind.URL, source="-")
        await service.backend.jobs.create(job)
        await service.publish(job_id, ProgressMessage("analyzing", 5, "Analyzing audio"))


def run_node(port: int) -> None:
    """An API node (``create_app``) plus two bench routes, added in this process only."""
    import uvicorn

    from audio_service.config import get_settings
    from audio_service.main import create_app

    app = create_app(get_settings())
    service = app.service

    async def create(request: Request) -> dict[str, str]:
        await create_jobs(service.jobs, (await request.json())["jobs"])
        return {}

    async def publish(request: Request) -> dict[str, str]:
        body = await request.json()
        await publish_jobs(service.jobs, body["jobs"], body["chunks"], body["rate"])
        return {}

    app.other_asgi_app.add_api_route("/_bench/create", create, methods=["POST"])
    app.other_asgi_app.add_api_route("/_bench/publish", publish, methods=["POST"])
    from audio_service.websocket.lean import LeanWebSocketProtocol

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_per_message_deflate=False,
        ws=LeanWebSocketProtocol,
    )


def run_create(job_ids: list[str]) -> None:
    from audio_service.backends import create_backend
    from audio_service.config import get_settings
    from audio_service.jobs.service import JobService

    async def main() -> None:
        settings = get_settings()
        backend = create_backend(settings)
        await create_jobs(JobService(backend, settings), job_ids)
        await backend.close()

    asyncio.run(main())


def run_publisher(job_ids: list[str], chunks: int, rate: float) -> None:
    """A worker-like process: the cluster's publisher, next to the nodes, not inside them."""
    from audio_service.backends import create_backend
    from audio_service.config import get_settings
    from audio_service.jobs.service import JobService

    async def main() -> float:
        settings = get_settings()
        backend = create_backend(settings)
        await backend.connect()
        started = time.process_time()  # the publishing, not the imports
        await publish_jobs(JobService(backend, settings), job_ids, chunks, rate)
        cpu = time.process_time() - started
        await backend.close()
        return cpu

    # On uvloop, as `audio-service worker` runs.
    print(json.dumps({"cpu": uvloop.run(main())}))


# -- the driver ----------------------------------------------------------------------------


class Subscriber:
    """One browser tab: a raw Socket.IO websocket following one job to its end."""

    def __init__(self, url: str, job_id: str) -> None:
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.job_id = job_id
        self.subscribed = asyncio.Event()
        self.seqs: list[int] = []
        self.latencies: list[float] = []
        self.first_sent = float("inf")
        self.last = 0.0

    async def run(self) -> None:
        async with websockets.connect(
            self.url, origin=ORIGIN, compression=None, max_size=None, open_timeout=60
        ) as ws:
            await ws.recv()  # Engine.IO open
            await ws.send("40")  # join the default namespace, then wait until it is joined
            while not str(await ws.recv()).startswith("40"):
                pass
            await ws.send('42["subscribe",' + json.dumps({"job_id": self.job_id}) + "]")
            async for message in ws:
                if message == "2":
                    await ws.send("3")  # Engine.IO pong
                    continue
                if not isinstance(message, str) or not message.startswith("42"):
                    continue
                now = time.time()
                name, data = json.loads(message[2:])
                if name == "subscribed":
                    self.subscribed.set()
                elif name == "error" and "seq" not in data:
                    raise RuntimeError(f"refused: {data}")
                elif name in ("progress", "chunk", "complete", "error"):
                    self.seqs.append(data["seq"])
                    self.last = now
                    if name == "chunk":
                        sent = data["segment"]["sent_at"]
                        self.first_sent = min(self.first_sent, sent)
                        self.latencies.append(now - sent)
                    elif name in ("complete", "error"):
                        return


@dataclass
class Cluster:
    nodes: list[str]
    #: The environment of Redis mode (None: the embedded back-end).
    env: dict[str, str] | None
    #: The server-side processes whose CPU time counts, by role: "nodes", "redis".
    processes: dict[str, list[psutil.Process]] = field(default_factory=dict)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each role's processes."""
        return {
            role: sum(sum(p.cpu_times()[:2]) for p in processes)
            for role, processes in self.processes.items()
        }


def spawn(stack: contextlib.ExitStack, args: list[str], env: dict[str, str]) -> psutil.Process:
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL
    )

    def stop() -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    stack.callback(stop)
    return psutil.Process(process.pid)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def cluster(kind: str, tmp: Path) -> Iterator[Cluster]:
    """``memory``: one node. ``redis``: a redis-server of its own and two nodes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "API_RUNS"))}
    env |= {"LOG_LEVEL": "WARNING", "TEMP_DIR": str(tmp), "PYTHONPATH": str(ROOT)}
    with contextlib.ExitStack() as stack:
        result = Cluster(nodes=[], env=None)
        if kind == "redis":
            port = free_port()
            server = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
            server += ["--save", "", "--appendonly", "no", "--dir", str(tmp)]
            result.processes["redis"] = [spawn(stack, server, env)]
            env |= {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "REDIS_PREFIX": "bench"}
            result.env = env
        for _ in range(2 if kind == "redis" else 1):
            port = free_port()
            node = [sys.executable, __file__, "node", str(port)]
            result.processes.setdefault("nodes", []).append(spawn(stack, node, env))
            result.nodes.append(f"http://127.0.0.1:{port}")
        for url in result.nodes:
            wait_healthy(url)
        yield result


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy")


def command_calls(client: redis.Redis) -> int:
    stats: dict[str, dict[str, Any]] = client.info("commandstats")
    # The driver's own INFO calls are not part of the workload.
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


async def run_once(c: Cluster, args: argparse.Namespace, rate: float) -> dict[str, Any]:
    job_ids = [f"bench-{secrets.token_hex(8)}" for _ in range(args.jobs)]
    body = {"jobs": job_ids, "chunks": args.chunks, "rate": rate}
    stats = redis.Redis.from_url(c.env["REDIS_URL"]) if c.env else None
    async with httpx.AsyncClient(timeout=600) as http:
        if c.env is None:
            (await http.post(c.nodes[0] + "/_bench/create", json=body)).raise_for_status()
        else:
            await helper(c.env, "create", body)
        # Subscriber s of job j connects to node s: each job is followed on every node.
        subs = [
            Subscriber(c.nodes[s % len(c.nodes)], j)
            for j in job_ids
            for s in range(args.subscribers)
        ]
        tasks = [asyncio.create_task(sub.run()) for sub in subs]
        await asyncio.wait_for(asyncio.gather(*(s.subscribed.wait() for s in subs)), 120)
        calls, cpu, client_cpu = command_calls(stats) if stats else 0, c.cpu(), time.process_time()
        if c.env is None:
            (await http.post(c.nodes[0] + "/_bench/publish", json=body)).raise_for_status()
            publisher_cpu = 0.0
        else:
            publisher_cpu = (await helper(c.env, "publish", body))["cpu"]
        await asyncio.wait_for(asyncio.gather(*tasks), 300)
    calls = command_calls(stats) - calls if stats else 0
    delivered = sum(len(sub.seqs) for sub in subs)
    used = {role: seconds - cpu[role] for role, seconds in c.cpu().items()}
    used["publisher"] = publisher_cpu
    latencies = sorted(x for sub in subs for x in sub.latencies)
    return {
        "delivered": delivered,
        # Every subscriber must have seen seq 1..n exactly once, in order.
        "broken": sum(sub.seqs != list(range(1, args.chunks + 3)) for sub in subs),
        # From the first chunk's publish (not from starting a publisher process) to the end.
        "per_second": delivered / (max(s.last for s in subs) - min(s.first_sent for s in subs)),
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
        "server_cpu": sum(used.values()),
        # Microseconds of server CPU per delivered event, in all and per role.
        "us_per_event": 1e6 * sum(used.values()) / delivered,
        **{f"us {role}": 1e6 * seconds / delivered for role, seconds in used.items()},
        "client_cpu": time.process_time() - client_cpu,
        "calls_per_event": calls / delivered if stats else None,
        "calls_per_append": calls / (args.jobs * (args.chunks + 2)) if stats else None,
    }


async def helper(env: dict[str, str], command: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run this file as a worker-like process (``create`` or ``publish``); its JSON answer."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        command,
        json.dumps(body),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"{command} failed (exit {process.returncode})")
    answer: dict[str, Any] = json.loads(out or b"{}")
    return answer


ROLES = ("nodes", "redis", "publisher")
FIGURES = ("delivered", "per_second", "p50", "p99", "server_cpu", "client_cpu", "us_per_event")


def results_table(rows: dict[tuple[str, str], list[dict[str, Any]]]) -> list[str]:
    lines = [
        "| back-end | run | delivered | events/s | p50 ms | p99 ms | server CPU s "
        "| client CPU s | server CPU per delivered event, µs (nodes + Redis + publisher) "
        "| Redis cmds/delivered | Redis cmds/append | broken streams |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for (kind, run), results in rows.items():
        m = {f: statistics.median(r[f] for r in results) for f in FIGURES}
        parts = " + ".join(
            f"{statistics.median(r[f'us {role}'] for r in results):.0f}"
            for role in ROLES
            if f"us {role}" in results[0]
        )
        if kind == "redis":
            per_event = f"{statistics.median(r['calls_per_event'] for r in results):.3f}"
            per_append = f"{statistics.median(r['calls_per_append'] for r in results):.2f}"
        else:
            per_event = per_append = "-"
        lines.append(
            f"| {kind} | {run} | {m['delivered']:,.0f} | {m['per_second']:,.0f} "
            f"| {m['p50']:.1f} | {m['p99']:.1f} | {m['server_cpu']:.1f} | {m['client_cpu']:.1f} "
            f"| {m['us_per_event']:.0f} ({parts}) | {per_event} | {per_append} "
            f"| {sum(r['broken'] for r in results)} |"
        )
    return lines


def cost_table(rows: dict[tuple[str, str], list[dict[str, Any]]]) -> list[str]:
    """Redis / embedded CPU per delivered event: the ratio of each run, then its median."""
    lines = [
        "| run | embedded µs/event | Redis µs/event | Redis / embedded (median of runs) "
        "| each run | target |",
        "|---|--:|--:|--:|--:|---|",
    ]
    for run in ("burst", "paced"):
        memory, redis_ = rows[("memory", run)], rows[("redis", run)]
        ratios = [
            r["us_per_event"] / m["us_per_event"] for m, r in zip(memory, redis_, strict=True)
        ]
        ratio = statistics.median(ratios)
        verdict = "met" if ratio <= 2 else "MISSED"
        lines.append(
            f"| {run} | {statistics.median(m['us_per_event'] for m in memory):.0f} "
            f"| {statistics.median(r['us_per_event'] for r in redis_):.0f} | {ratio:.2f}x "
            f"| {', '.join(f'{x:.2f}' for x in ratios)} | <= 2x: {verdict} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--subscribers", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0, help="chunks/s per job, paced run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args()
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp,
        cluster("memory", Path(tmp)) as memory,
        cluster("redis", Path(tmp)) as red,
    ):
        for index in range(args.runs):
            for run, rate in (("burst", 0.0), ("paced", args.rate)):
                pairs = [("memory", memory), ("redis", red)]
                for kind, c in pairs if index % 2 == 0 else pairs[::-1]:
                    result = asyncio.run(run_once(c, args, rate))
                    rows.setdefault((kind, run), []).append(result)
                    print(f"{kind} {run}: {result}", file=sys.stderr)
    rows = {key: rows[key] for key in sorted(rows)}
    section = "\n".join(
        [
            f"{args.jobs} jobs x {args.subscribers} subscribers x {args.chunks} chunks; burst: "
            f"published flat out; paced: {args.rate:g} chunks/s per job; medians of {args.runs} "
            f"runs, measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPUs shared by "
            "everything (client, nodes, publisher, Redis) and by other work. Embedded: one "
            "node; Redis: two nodes, each job followed on both, and a worker-like publisher "
            "process. Latency: publish() call to client receipt. Redis commands include those "
            "run inside Lua scripts.",
            "",
            *results_table(rows),
            "",
            *cost_table(rows),
        ]
    )
    print("\n" + section)
    if not args.no_write:
        write_docs(section)


def write_docs(section: str) -> None:
    text = DOCS.read_text()
    block = f"{START}\n{section}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n## Cluster cost\n\n{block}\n"
    DOCS.write_text(text)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "node":
        run_node(int(sys.argv[2]))
    elif command == "publish":
        body = json.loads(sys.argv[2])
        run_publisher(body["jobs"], body["chunks"], body["rate"])
    elif command == "create":
        run_create(json.loads(sys.argv[2])["jobs"])
    else:
        main()

"""Processes of the streaming benchmark: the servers, the Node load generator, the machine.

The machine is shared (2 cores, other people's test suites come and go), so every run
also measures how much CPU *other* processes took while it ran; ``bench_fanout`` repeats a
pair of runs that was disturbed, and reports what disturbance remained.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
LOADGEN = ROOT / "bench" / "loadgen"
NODE_SERVER = ROOT / "bench" / "servers" / "node"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


def npm_ci(folder: Path, package: str) -> None:
    """Install ``folder``'s locked Node packages unless ``package`` is already there."""
    if not (folder / "node_modules" / package).exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True
        )


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


class Server:
    """One benchmark server in a subprocess: ``bench/servers/<kind>.py``, or for ``node``
    the Socket.IO reference ``bench/servers/node/server.mjs``."""

    def __init__(self, kind: str, *args: str) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if kind == "node":
            npm_ci(NODE_SERVER, "socket.io")
            # --expose-gc: the memory figures read the RSS after a full collection.
            command = ["node", "--expose-gc", str(NODE_SERVER / "server.mjs"), str(self.port)]
        else:
            command = [sys.executable, "-m", f"bench.servers.{kind}", str(self.port)]
        self.process = subprocess.Popen([*command, *args], cwd=ROOT, start_new_session=True)
        self.ps = psutil.Process(self.process.pid)
        self.http = httpx.Client(base_url=self.url, timeout=120)
        deadline = time.monotonic() + 90
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{kind} server exited with {self.process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                self.control("ping")
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} server did not start")
            time.sleep(0.2)

    def control(self, command: str, **args: Any) -> dict[str, Any]:
        """Call one of the ``/_bench/*`` routes that only the benchmark servers have."""
        response = self.http.post(f"/_bench/{command}", json=args)
        response.raise_for_status()
        reply: dict[str, Any] = response.json()
        return reply

    def rss(self) -> int:
        """Resident memory after a full garbage collection in the server."""
        self.control("gc")
        return int(self.ps.memory_info().rss)

    def stop(self) -> None:
        self.http.close()
        _stop(self.process)


@contextlib.contextmanager
def running(*specs: tuple[str, ...]) -> Iterator[list[Server]]:
    """Servers for ``(kind, *args)`` specs, stopped however the block ends."""
    servers: list[Server] = []
    try:
        for kind, *args in specs:
            servers.append(Server(kind, *args))
        yield servers
    finally:
        for server in servers:
            server.stop()


class _Node:
    """One Node process of ``bench/loadgen/loadgen.mjs``: one JSON command per line."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            ["node", str(LOADGEN / "loadgen.mjs")],
            cwd=LOADGEN,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.ps = psutil.Process(self.process.pid)
        self.sockets = 0

    def send(self, cmd: str, **args: Any) -> None:
        assert self.process.stdin
        self.process.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.process.stdin.flush()

    def reply(self) -> dict[str, Any]:
        assert self.process.stdout
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        if not answer.pop("ok", False):
            raise RuntimeError(f"loadgen: {answer.get('error')}")
        return answer


class LoadGen:
    """Official socket.io-client connections spread over ``processes`` Node processes.

    One Node process saturates its core at about 100,000 received events/s; with two, the
    generator stays clear of the server's figures (the bench reports the busiest one).
    """

    def __init__(self, processes: int = 2) -> None:
        npm_ci(LOADGEN, "socket.io-client")
        self.nodes = [_Node() for _ in range(processes)]

    def _all(self, cmd: str, nodes: list[_Node], **args: Any) -> list[dict[str, Any]]:
        for node in nodes:
            node.send(cmd, **args)
        return [node.reply() for node in nodes]

    def _busy(self) -> list[_Node]:
        return [node for node in self.nodes if node.sockets]

    def connect(self, url: str, n: int) -> None:
        """Open ``n`` more connections, spread evenly over the processes."""
        k = len(self.nodes)
        for i, node in enumerate(self.nodes):
            share = n // k + (i < n % k)
            if share:
                node.send("connect", url=url, n=share)
        for i, node in enumerate(self.nodes):
            if n // k + (i < n % k):
                node.sockets = node.reply()["sockets"]

    def subscribe(self, jobs: list[str], count: int, *, latency: bool = False) -> float:
        """Socket i (over all processes) follows ``jobs[i % len(jobs)]`` until it has
        ``count`` events. Returns when the first subscribe went out (epoch ms)."""
        offset = 0
        for node in self._busy():
            node.send("subscribe", jobs=jobs, count=count, offset=offset, latency=latency)
            offset += node.sockets
        return min(float(node.reply()["start"]) for node in self._busy())

    def expect(self, timeout: float) -> dict[str, Any]:
        """Wait for every socket's ``count`` events; merged figures of all processes."""
        parts = self._all("expect", self._busy(), timeout=timeout)
        latencies = sorted(x for part in parts for x in part["latencies"])
        return {
            "timedOut": any(part["timedOut"] for part in parts),
            "orderErrors": sum(part["orderErrors"] for part in parts),
            "received": sum(part["received"] for part in parts),
            "first": min(part["first"] for part in parts),
            "last": max(part["last"] for part in parts),
            "latencies": latencies,
            # The busiest process: the one that would cap what the generator can take.
            "cpu": max(part["cpuSeconds"] / part["wallSeconds"] for part in parts),
        }

    def disconnect(self) -> None:
        self._all("disconnect", self._busy())
        for node in self.nodes:
            node.sockets = 0

    def stop(self) -> None:
        for node in self.nodes:
            _stop(node.process)


def _ours() -> float:
    """CPU seconds of this process and everything it started (servers, load generator)."""
    me = psutil.Process()
    return cpu_seconds(me) + sum(cpu_seconds(child) for child in me.children(recursive=True))


def _busy() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


class Machine:
    """CPU used by processes other than the benchmark's own, in cores."""

    def __init__(self) -> None:
        self.mark()

    def mark(self) -> None:
        self._mark = (time.monotonic(), _busy(), _ours())

    def others(self) -> float:
        """Cores used by other processes since :meth:`mark`."""
        wall, busy, ours = self._mark
        elapsed = max(time.monotonic() - wall, 1e-6)
        return max(0.0, (_busy() - busy) - (_ours() - ours)) / elapsed

    def wait_quiet(self, limit: float, patience: float) -> float:
        """Wait (up to ``patience`` seconds) until others use under ``limit`` cores."""
        deadline = time.monotonic() + patience
        while True:
            self.mark()
            time.sleep(0.5)
            load = self.others()
            if load < limit or time.monotonic() > deadline:
                return load

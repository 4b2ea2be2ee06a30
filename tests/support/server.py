"""Run the real service (uvicorn, or a worker) in a subprocess on a free port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from audio_service.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(**settings: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SETTING_NAMES}
    env.update(
        {
            "ALLOWED_ORIGINS": "http://localhost:3000",
            "RATE_LIMIT_PER_MINUTE": "1000",
            # Every test client is 127.0.0.1, and suites submit dozens of jobs at once; the
            # caps' own tests (tests/hardening/test_fairness.py) set them.
            "MAX_ACTIVE_JOBS_PER_CLIENT": "1000",
            "MAX_QUEUED_JOBS": "10000",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # Tests upload the same generated songs again and again and many need a real
            # analysis each time (pacing, worker loss); the cache's own tests turn it on.
            "ANALYSIS_CACHE": "false",
        }
    )
    env.update({k.upper(): str(v) for k, v in settings.items()})
    return env


#: Every setting the service reads, so that none leaks in from the developer's shell.
_SETTING_NAMES = {name.upper() for name in Settings.model_fields}


class ServiceProcess:
    def __init__(self, process: subprocess.Popen[bytes], port: int | None, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(10)


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@contextlib.contextmanager
def run_server(tmp: Path, **settings: object) -> Iterator[ServiceProcess]:
    """``uvicorn audio_service.main:asgi_app`` on a free port, ready when this yields."""
    port = free_port()
    settings.setdefault("temp_dir", tmp)
    log = tmp / f"server-{port}.log"
    process = _spawn(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "audio_service.main:asgi_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ws-per-message-deflate",
            "false",
            # As `audio-service serve` and the Dockerfile run it.
            "--ws",
            "audio_service.websocket.lean:LeanWebSocketProtocol",
            "--log-level",
            "warning",
        ],
        base_env(**settings),
        log,
    )
    service = ServiceProcess(process, port, log)
    try:
        _wait_ready(service)
        yield service
    finally:
        _stop(service)


@contextlib.contextmanager
def run_worker(tmp: Path, **settings: object) -> Iterator[ServiceProcess]:
    """``audio-service worker`` (cluster mode) in a subprocess."""
    settings.setdefault("temp_dir", tmp)
    log = tmp / f"worker-{time.monotonic_ns()}.log"
    process = _spawn(
        [sys.executable, "-m", "audio_service.cli", "worker"], base_env(**settings), log
    )
    service = ServiceProcess(process, None, log)
    try:
        yield service
    finally:
        _stop(service)


def _wait_ready(service: ServiceProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{service.output()}")
        try:
            if httpx.get(service.url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready in {timeout}s:\n{service.output()}")


def _stop(service: ServiceProcess) -> None:
    if service.process.poll() is None:
        os.killpg(service.process.pid, signal.SIGTERM)
        try:
            service.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(5)

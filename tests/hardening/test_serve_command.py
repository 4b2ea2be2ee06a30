"""The deployment command, ``audio-service serve``, sets limits at the uvicorn level."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator

import httpx
import pytest

from audio_service.websocket.server import MAX_CLIENT_MESSAGE_BYTES
from tests.hardening.rawsocket import RawSocket
from tests.support.server import ServiceProcess, _spawn, _wait_ready, base_env, free_port

LIMIT = 3


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("served")
    port = free_port()
    log = tmp / "serve.log"
    env = base_env(temp_dir=tmp, rate_limit_per_minute=LIMIT)
    process = _spawn(
        [sys.executable, "-m", "audio_service.cli", "serve", "--port", str(port)], env, log
    )
    handle = ServiceProcess(process, port, log)
    try:
        _wait_ready(handle)
        yield handle.url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)


async def test_an_oversized_frame_is_refused_before_it_is_buffered(served: str) -> None:
    raw = await RawSocket.open(served)
    await raw.emit("subscribe", {"job_id": "x" * (2 * MAX_CLIENT_MESSAGE_BYTES)})
    assert await raw.drain(quiet=5) == [] and raw.closed
    # 1009: "message too big", from uvicorn itself (engine.io would close with 1000).
    assert raw.ws.close_code == 1009


async def test_forwarded_for_from_loopback_buys_no_quota(served: str) -> None:
    """uvicorn's own proxy-header handling would believe X-Forwarded-For from 127.0.0.1
    and hand the app the spoofed address; under the serve command only TRUSTED_PROXIES
    decides."""
    async with httpx.AsyncClient() as http:
        codes = [
            (
                await http.post(
                    served + "/api/analyze",
                    json={"url": "ftp://x/"},
                    headers={"x-forwarded-for": f"192.0.2.{i}"},
                )
            ).status_code
            for i in range(LIMIT + 1)
        ]
    assert codes == [400] * LIMIT + [429]

"""Edges the review found open: a connection cap that counts long-polling sessions,
security headers on /socket.io, /metrics kept private, and 503s that name no host."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from audio_service.config import Settings
from audio_service.main import create_app
from tests.hardening.rawsocket import RawSocket
from tests.support.server import ServiceProcess, free_port, run_server

CAP = 4
POLLING = "/socket.io/?EIO=4&transport=polling"


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with run_server(tmp_path_factory.mktemp("capped"), max_connections=CAP) as server:
        yield server


async def test_connections_per_process_are_capped_counting_polling_sessions(
    capped: ServiceProcess,
) -> None:
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=10) as http:
        sockets = [await RawSocket.open(capped.url) for _ in range(CAP // 2)]
        for raw in sockets:
            stack.push_async_callback(raw.close)
        # Long-polling sessions count as much as websockets.
        for _ in range(CAP - len(sockets)):
            assert (await http.get(capped.url + POLLING)).status_code == 200
        refused = await http.get(capped.url + POLLING)
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "5"
        assert refused.json()["code"] == "AT_CAPACITY"
        with pytest.raises(InvalidStatus):
            await RawSocket.open(capped.url)
        # Room again once a connection ends.
        await sockets.pop().close()
        for _ in range(100):
            if (await http.get(capped.url + POLLING)).status_code == 200:
                break
        else:
            raise AssertionError("the cap did not free up after a disconnect")


async def test_socketio_answers_carry_the_security_headers(strict: ServiceProcess) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(strict.url + POLLING)
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def _app(**settings: object) -> httpx.AsyncClient:
    values = {"allowed_origins": ["http://localhost:3000"], "_env_file": None} | settings
    app = create_app(Settings(**values))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 5000)))


async def test_metrics_are_private_unless_configured(strict: ServiceProcess) -> None:
    async with httpx.AsyncClient(timeout=10) as http:  # from loopback: a local scraper
        assert (await http.get(strict.url + "/metrics")).status_code == 200
    async with _app() as remote:
        assert (await remote.get("http://node/metrics")).status_code == 404
    async with _app(metrics_token="s3cret") as remote:
        assert (await remote.get("http://node/metrics")).status_code == 404
        wrong = {"Authorization": "Bearer guess"}
        assert (await remote.get("http://node/metrics", headers=wrong)).status_code == 404
        right = {"Authorization": "Bearer s3cret"}
        assert (await remote.get("http://node/metrics", headers=right)).status_code == 200
    async with _app(metrics_public=True) as remote:
        assert (await remote.get("http://node/metrics")).status_code == 200


async def test_a_503_names_no_host_or_port(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there: Redis is "down"
    down = {"redis_url": f"redis://127.0.0.1:{port}/0", "allow_private_urls": True}
    async with _app(**down) as remote:
        url = "http://media.invalid/x.mp3"
        response = await remote.post("http://node/api/analyze", json={"url": url})
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "BACKEND_UNAVAILABLE"
    assert str(port) not in response.text and "127.0.0.1" not in response.text
    assert str(port) in caplog.text, "the log keeps the detail"

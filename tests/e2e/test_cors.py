"""One allow-list guards REST and Socket.IO (polling and websocket), checked with raw HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.support.server import ServiceProcess, run_server

ALLOWED = "http://localhost:3000"
FOREIGN = "https://evil.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with run_server(tmp_path_factory.mktemp("cors"), allowed_origins=ALLOWED) as srv:
        yield srv


def _acao(response: httpx.Response) -> list[str]:
    return response.headers.get_list("access-control-allow-origin")


def test_rest_allowed_origin_gets_exactly_one_header(server: ServiceProcess) -> None:
    response = httpx.get(server.url + "/api/jobs/nope", headers={"Origin": ALLOWED})
    assert response.status_code == 404
    assert _acao(response) == [ALLOWED]
    assert response.headers["access-control-allow-credentials"] == "true"
    preflight = httpx.options(
        server.url + "/api/analyze",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200 and _acao(preflight) == [ALLOWED]


def test_rest_foreign_origin_is_refused(server: ServiceProcess) -> None:
    for method, path in (
        ("GET", "/api/jobs/nope"),
        ("POST", "/api/analyze"),
        ("OPTIONS", "/api/analyze"),
    ):
        response = httpx.request(
            method,
            server.url + path,
            headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"},
            json={"url": "https://example.com/a.mp3"} if method == "POST" else None,
        )
        assert response.status_code == 403, (method, path)
        assert response.json()["code"] == "ORIGIN_NOT_ALLOWED"
        assert _acao(response) == []


def test_polling_handshake_uses_the_same_allow_list(server: ServiceProcess) -> None:
    url = server.url + "/socket.io/?EIO=4&transport=polling"
    allowed = httpx.get(url, headers={"Origin": ALLOWED})
    assert allowed.status_code == 200 and allowed.text.startswith("0{")
    assert _acao(allowed) == [ALLOWED]
    foreign = httpx.get(url, headers={"Origin": FOREIGN})
    assert foreign.status_code == 400
    assert _acao(foreign) == []


async def test_websocket_upgrade_uses_the_same_allow_list(server: ServiceProcess) -> None:
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(url, origin=ALLOWED) as ws:  # type: ignore[arg-type]
        opening = await ws.recv()
        assert isinstance(opening, str) and opening.startswith("0{")
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(url, origin=FOREIGN):  # type: ignore[arg-type]
            pass


def test_wildcard_origin_is_refused_at_startup(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="ALLOWED_ORIGINS must list explicit origins"),
        run_server(tmp_path, allowed_origins="*"),
    ):
        pass


def test_the_service_own_page_origin_is_allowed(server: ServiceProcess) -> None:
    own = f"http://127.0.0.1:{server.port}"
    response = httpx.get(server.url + "/api/jobs/nope", headers={"Origin": own})
    assert response.status_code == 404  # passed the guard, reached the route
    handshake = httpx.get(
        server.url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": own}
    )
    assert handshake.status_code == 200 and _acao(handshake) == [own]


def test_same_origin_under_a_dns_name_is_not_enough(server: ServiceProcess) -> None:
    # A DNS-rebinding page: its name now resolves here, so Host and Origin agree.
    rebound = {
        "Host": f"evil.example:{server.port}",
        "Origin": f"http://evil.example:{server.port}",
    }
    response = httpx.post(server.url + "/api/analyze", headers=rebound, json={"url": "x"})
    assert response.status_code == 403
    handshake = httpx.get(server.url + "/socket.io/?EIO=4&transport=polling", headers=rebound)
    assert handshake.status_code == 400  # python-engineio answers a refused origin with 400


async def test_websocket_from_the_own_page_origin(server: ServiceProcess) -> None:
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    own = f"http://127.0.0.1:{server.port}"
    async with websockets.connect(url, origin=own) as ws:  # type: ignore[arg-type]
        opening = await ws.recv()
        assert isinstance(opening, str) and opening.startswith("0{")

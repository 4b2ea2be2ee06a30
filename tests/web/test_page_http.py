"""The page at ``/``: HTML for browsers, JSON for scripts, only its own files, no CDN."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator

import httpx
import pytest

from audio_service.web.page import FILES, STATIC
from tests.support.server import ROOT, ServiceProcess, run_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with run_server(tmp_path_factory.mktemp("page")) as srv:
        yield srv


def test_browsers_get_the_page_and_scripts_keep_the_json(server: ServiceProcess) -> None:
    browser = httpx.get(server.url + "/", headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.status_code == 200
    assert browser.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in browser.text
    for accept in ("application/json", "*/*", ""):
        response = httpx.get(server.url + "/", headers={"Accept": accept})
        assert response.json()["service"] == "Neuro-Acoustic Audio Service", accept


def test_every_file_the_page_loads_is_served_from_the_service(server: ServiceProcess) -> None:
    html = httpx.get(server.url + "/", headers={"Accept": "text/html"}).text
    sources = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    sources += json.loads(re.search(r'importmap">(.*?)<', html, re.S).group(1))[  # type: ignore[union-attr]
        "imports"
    ].values()
    assert sources, "the page loads nothing?"
    for path in sources:
        response = httpx.get(server.url + path)
        assert response.status_code == 200, path
    # Nothing from elsewhere: no absolute URL in any of the page's own files.
    for name in ["index.html", *FILES]:
        if not name.startswith("vendor/"):
            text = (STATIC / name).read_text()
            assert not re.search(r"(src|href|import)[^\n]*https?://", text), name


def test_only_the_listed_files_are_served(server: ServiceProcess) -> None:
    for path in ("/static/index.html", "/static/../config.py", "/static/vendor", "/static/x.js"):
        assert httpx.get(server.url + path).status_code == 404, path


def test_the_csp_allows_exactly_the_inline_import_map(server: ServiceProcess) -> None:
    response = httpx.get(server.url + "/", headers={"Accept": "text/html"})
    policy = response.headers["content-security-policy"]
    importmap = re.search(r'<script type="importmap">(.*?)</script>', response.text, re.S)
    assert importmap is not None
    digest = base64.b64encode(hashlib.sha256(importmap.group(1).encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}'" in policy
    assert "connect-src 'self'" in policy and "unsafe-inline" not in policy
    for path, accept in (("/health", "*/*"), ("/", "application/json")):
        api = httpx.get(server.url + path, headers={"Accept": accept})
        assert (
            api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        )
    script = httpx.get(server.url + "/static/app.js")
    assert script.headers["content-security-policy"] == policy


def test_the_vendored_socketio_client_is_the_locked_version() -> None:
    lock = json.loads((ROOT / "clients" / "js" / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/socket.io-client"]["version"]
    vendored = (STATIC / "vendor" / "socket.io.esm.min.js").read_text()
    assert vendored.startswith(f"/*!\n * Socket.IO v{locked}\n"), vendored[:60]
    installed = ROOT / "clients" / "js" / "node_modules" / "socket.io-client" / "dist"
    if (installed / "socket.io.esm.min.js").exists():
        assert (installed / "socket.io.esm.min.js").read_text() == vendored


def test_the_page_uses_the_shipped_js_client() -> None:
    served = STATIC / "audio-service-client.js"
    assert served.read_text() == (ROOT / "clients" / "js" / "audio-service-client.js").read_text()

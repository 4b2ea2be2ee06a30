"""Real servers for the end-to-end suites, on both back-ends.

``memory``: one uvicorn process with the embedded back-end. ``redis``: one uvicorn node and
one ``audio-service worker`` sharing a real Redis under a key prefix of their own.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ServiceProcess, run_server, run_worker

BACKENDS = ["memory", "redis"]


@contextlib.contextmanager
def cluster(request: pytest.FixtureRequest, tmp: Path, **settings: Any) -> Iterator[ServiceProcess]:
    if request.param == "memory":
        with run_server(tmp, **settings) as server:
            yield server
        return
    redis_url = request.getfixturevalue("redis_url")
    settings |= {"redis_url": redis_url, "redis_prefix": f"test-{secrets.token_hex(4)}"}
    with run_server(tmp, **settings) as server, run_worker(tmp, **settings):
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    tmp = tmp_path_factory.mktemp("service")
    with cluster(request, tmp, allow_private_urls="true") as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def paced_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """Chunks go out 50 ms apart, so a test can act while a job is still streaming."""
    tmp = tmp_path_factory.mktemp("paced")
    with cluster(request, tmp, stream_pace_seconds=0.05) as server:
        yield server

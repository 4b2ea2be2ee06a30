"""An in-process node (real uvicorn, real Socket.IO server) on each back-end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import socketio
import uvicorn

from audio_service.backends import create_backend
from audio_service.backends.base import Backend
from audio_service.config import Settings
from audio_service.jobs.service import JobService
from audio_service.metrics import Metrics
from audio_service.websocket.hub import Hub
from audio_service.websocket.server import SocketHandlers, create_sio
from tests.support.server import free_port


@dataclass
class Node:
    url: str
    jobs: JobService
    hub: Hub
    backend: Backend


@pytest.fixture(params=["memory", "redis"])
def settings(request: pytest.FixtureRequest) -> Settings:
    if request.param == "memory":
        return Settings(_env_file=None)
    return Settings(
        _env_file=None,
        redis_url=request.getfixturevalue("redis_url"),
        redis_prefix=request.getfixturevalue("redis_prefix"),
    )


@pytest.fixture
async def node(settings: Settings) -> AsyncIterator[Node]:
    backend = create_backend(settings)
    await backend.connect()
    metrics = Metrics()
    sio = create_sio(settings)
    hub = Hub(sio, backend.events, max_backlog=settings.max_socket_backlog, metrics=metrics)
    SocketHandlers(sio, hub, backend, settings, metrics)
    await hub.start()
    port = free_port()
    config = uvicorn.Config(
        socketio.ASGIApp(sio),
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield Node(f"http://127.0.0.1:{port}", JobService(backend, settings, metrics), hub, backend)
    finally:
        server.should_exit = True
        await serving
        await hub.stop()
        await backend.close()

"""The ASGI application: FastAPI for REST, python-socketio for the stream, one process.

``audio_service.main:asgi_app`` is what uvicorn serves. :func:`create_app` builds a fresh,
independent app (tests build several in one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import socketio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from audio_service.api import errors as api_errors
from audio_service.api.middleware import OriginGuard, SecurityHeaders, with_security_headers
from audio_service.api.ratelimit import RateLimiter
from audio_service.api.routes import analyze, jobs, meta
from audio_service.backends import create_backend
from audio_service.config import Settings, get_settings
from audio_service.jobs.runner import JobRunner
from audio_service.jobs.service import JobService
from audio_service.metrics import Metrics
from audio_service.origins import OriginPolicy
from audio_service.web import page
from audio_service.websocket.hub import Hub
from audio_service.websocket.server import SocketHandlers, create_sio

logger = logging.getLogger(__name__)

_SWEEP_SECONDS = 10.0


class Service:
    """Everything one API node runs, wired together; started and stopped by the lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.backend = create_backend(settings)
        self.jobs = JobService(self.backend, settings, metrics=self.metrics)
        self.sio = create_sio(settings)
        self.hub = Hub(
            self.sio,
            self.backend.events,
            max_backlog=settings.max_socket_backlog,
            max_backlog_bytes=settings.max_socket_backlog_bytes,
            stall_seconds=settings.socket_stall_seconds,
            metrics=self.metrics,
        )
        self.handlers = SocketHandlers(self.sio, self.hub, self.backend, settings, self.metrics)
        runs_jobs = settings.embedded or settings.api_runs_jobs
        consumer = f"api-{socket.gethostname()}-{os.getpid()}"
        self.runner = JobRunner(self.jobs, settings, consumer=consumer) if runs_jobs else None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.backend.connect()
        await self.hub.start()
        if self.runner is not None:
            await self.runner.start()
        self._sweeper = asyncio.create_task(self._sweep())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.runner is not None:
            await self.runner.stop()
        await self.hub.stop()
        await self.backend.close()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_SECONDS)
            try:
                await self.backend.sweep()
            except Exception as exc:
                logger.warning("retention sweep failed: %s", exc)


def create_app(settings: Settings | None = None) -> socketio.ASGIApp:
    settings = settings or get_settings()
    service = Service(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    docs = settings.enable_docs
    app = FastAPI(
        title="Neuro-Acoustic Audio Service",
        description="Analyses music and streams the results live over Socket.IO.",
        version="1.0.0",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.backend = service.backend
    app.state.jobs = service.jobs
    app.state.registry = service.metrics.registry
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    api_errors.install(app)
    app.include_router(meta.router)
    app.include_router(page.router)
    app.include_router(analyze.router, prefix="/api")
    app.include_router(jobs.router, prefix="/api")
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["*"],
    )
    policy = OriginPolicy(settings.allowed_origins, allow_own=settings.allow_own_origin)
    app.add_middleware(OriginGuard, policy=policy)
    app.add_middleware(SecurityHeaders)
    asgi = _App(service.sio, other_asgi_app=app, socketio_path="socket.io")
    asgi.service = service
    return asgi


class _App(socketio.ASGIApp):  # type: ignore[misc]
    """The ASGI app: Socket.IO at ``/socket.io``, FastAPI for the rest. Long-polling answers
    get the API's security headers too (python-engineio sends none of its own)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/socket.io"):
            send = with_security_headers(send, scope["path"])
        await super().__call__(scope, receive, send)


asgi_app: socketio.ASGIApp  # created on first access, see __getattr__


def __getattr__(name: str) -> Any:
    # Built on first access, so importing this module never reads settings or binds ports.
    if name in ("asgi_app", "app"):
        global asgi_app
        asgi_app = create_app()
        return asgi_app
    raise AttributeError(name)

"""Service root, health and Prometheus metrics."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from audio_service.api.errors import error_response
from audio_service.api.schemas import HealthResponse
from audio_service.config import Settings
from audio_service.protocol import ErrorCode
from audio_service.web import page

router = APIRouter(tags=["service"])

SERVICE_NAME = "Neuro-Acoustic Audio Service"


@router.get("/", response_model=None)
async def root(request: Request) -> dict[str, Any] | HTMLResponse:
    """The page for browsers; for scripts, the service name and where the API docs are
    (``null`` when ENABLE_DOCS is off)."""
    if page.wants_html(request):
        return page.index_response()
    docs = request.app.docs_url
    return {"service": SERVICE_NAME, "message": SERVICE_NAME, "docs": docs}


@router.get("/health", response_model=HealthResponse)
async def health(request: Request, response: Response) -> HealthResponse:
    """Liveness plus back-end reachability; 503 while the back-end does not answer."""
    backend = request.app.state.backend
    try:
        ok = bool(await backend.ping())
    except Exception:
        ok = False
    if not ok:
        response.status_code = 503
    return HealthResponse(
        status="healthy" if ok else "degraded",
        service="audio-service",
        backend=type(backend).__name__.removesuffix("Backend").lower(),
        backend_ok=ok,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: with METRICS_TOKEN set, for ``Authorization: Bearer <token>``;
    otherwise for loopback peers only (a scraper on the same host), unless
    METRICS_PUBLIC. They tell an attacker how loaded the node is and how it is cut."""
    settings = request.app.state.settings
    if not _may_read_metrics(request, settings):
        return error_response(404, "not found", ErrorCode.NOT_FOUND)
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)


def _may_read_metrics(request: Request, settings: Settings) -> bool:
    if settings.metrics_token:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {settings.metrics_token}".encode())
    if settings.metrics_public:
        return True
    peer = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False

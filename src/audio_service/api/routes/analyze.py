"""``POST /api/analyze``: create a job from a JSON ``{url}``/``{youtube_url}`` or an upload."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from fastapi import APIRouter, Request
from pydantic import ValidationError

from audio_service import netguard
from audio_service.api.deps import JobsDep, SettingsDep
from audio_service.api.ratelimit import client_address, rate_key
from audio_service.api.schemas import ERROR_RESPONSES, AnalyzeRequest, AnalyzeResponse
from audio_service.api.uploads import receive_upload
from audio_service.config import Settings
from audio_service.errors import InvalidRequest, InvalidURL, RateLimited, UnsupportedMedia

router = APIRouter(tags=["jobs"])

_MAX_JSON_BYTES = 16 * 1024

_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                # The model's validator wants one of the two URLs; say so in the schema.
                "schema": AnalyzeRequest.model_json_schema()
                | {"anyOf": [{"required": ["url"]}, {"required": ["youtube_url"]}]}
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.post(
    "/analyze",
    response_model=AnalyzeResponse,
    status_code=202,
    responses=ERROR_RESPONSES,
    openapi_extra=_BODY_SCHEMA,
)
async def analyze(request: Request, jobs: JobsDep, settings: SettingsDep) -> AnalyzeResponse:
    """Start analysing an uploaded file or a media URL; results stream over Socket.IO."""
    address = client_address(request, settings)
    client = rate_key(address)  # an IPv6 client counts per /64, for active jobs too
    try:
        await _limit_rate(request, settings, address, client)
    except RateLimited:
        request.app.state.service.metrics.rate_limited.labels("http").inc()
        raise
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        upload_dir = Path(settings.temp_dir) / "audio-service" / "uploads"
        path, filename, sha256 = await receive_upload(
            request, upload_dir, settings.max_upload_bytes
        )
        job = await jobs.create_upload_job(path, filename, sha256, client)
    elif content_type == "application/json":
        body = await _read_json(request)
        await check_url(body.media_url, settings)
        job = await jobs.create_url_job(body.media_url, body.video_id, client)
    else:
        raise UnsupportedMedia("send application/json {url} or multipart/form-data with 'file'")
    return AnalyzeResponse(
        job_id=job.job_id,
        video_id=job.video_id,
        status=job.status,
        websocket_url=_socket_url(request),
    )


async def _limit_rate(request: Request, settings: Settings, address: str, client: str) -> None:
    """RATE_LIMIT_PER_MINUTE, counted in Redis for every node in cluster mode, else here."""
    per_minute = settings.rate_limit_per_minute
    if per_minute <= 0:
        return
    wait = await request.app.state.backend.hit_rate_limit(client, per_minute)
    if wait is None:
        request.app.state.rate_limiter.check(address)
    elif wait > 0:
        raise RateLimited("too many jobs from this address", retry_after=wait)


async def _read_json(request: Request) -> AnalyzeRequest:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_JSON_BYTES:
            raise InvalidRequest("JSON body is too large")
    try:
        return AnalyzeRequest.model_validate(json.loads(raw))
    except RecursionError as exc:
        # json.loads recurses per nesting level: 100,000 "[" were an unhandled 500.
        raise InvalidRequest("body is nested too deeply") from exc
    except (ValueError, ValidationError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            raise InvalidRequest(f"invalid body: {first['msg']}") from exc
        raise InvalidRequest("body is not valid JSON") from exc


async def check_url(url: str, settings: Settings) -> None:
    """Refuse a URL that is not public http(s) before a job exists for it.

    The job process checks every connection again (redirects, DNS rebinding).
    """
    host = netguard.check_url_syntax(url)
    if settings.allow_private_urls:
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, None), timeout=5)
    except (OSError, TimeoutError) as exc:
        raise InvalidURL("the URL's host does not resolve") from exc
    netguard.check_addresses(list(infos))


def _socket_url(request: Request) -> str:
    scheme = "wss" if request.url.scheme == "https" else "ws"
    return f"{scheme}://{request.url.netloc}"

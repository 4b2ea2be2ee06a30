"""Routes of the page: ``/`` for browsers (HTML) and the fixed set of files it loads."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)

STATIC = Path(str(resources.files("audio_service.web") / "static"))
#: Every file the page may load, and its type: nothing else under ``static/`` is served.
FILES = {
    "app.js": "text/javascript",
    "charts.js": "text/javascript",
    "audio-service-client.js": "text/javascript",
    "style.css": "text/css",
    "vendor/socket.io.esm.min.js": "text/javascript",
}


@cache
def index_html() -> str:
    return (STATIC / "index.html").read_text(encoding="utf-8")


@cache
def content_security_policy() -> str:
    """The page's CSP: its own files only, the inline import map allowed by its hash."""
    match = re.search(r'<script type="importmap">(.*?)</script>', index_html(), re.S)
    assert match is not None, "index.html lost its import map"
    digest = base64.b64encode(hashlib.sha256(match.group(1).encode()).digest()).decode()
    return (
        f"default-src 'none'; script-src 'self' 'sha256-{digest}'; style-src 'self'; "
        "img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def wants_html(request: Request) -> bool:
    """A browser asks for HTML; scripts (``*/*`` or ``application/json``) keep the JSON."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def _csp() -> dict[str, str]:
    return {"content-security-policy": content_security_policy()}


def index_response() -> HTMLResponse:
    return HTMLResponse(index_html(), headers=_csp())


@router.get("/static/{name:path}")
async def static_file(name: str) -> FileResponse:
    media_type = FILES.get(name)
    if media_type is None:
        raise HTTPException(404, "no such file")
    return FileResponse(STATIC / name, media_type=media_type, headers=_csp())

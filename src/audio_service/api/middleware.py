"""Pure ASGI middleware: refuse foreign origins, add security headers."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audio_service.api.errors import error_response
from audio_service.origins import OriginPolicy
from audio_service.protocol import ErrorCode

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-site"),
]
#: The API serves JSON only: a browser that renders a response anyway may run nothing.
#: The page at ``/`` and its files set their own policy: their own files only (``web/page.py``).
#: The interactive docs load Swagger UI's scripts and keep the browser's defaults.
_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_DOCS_PATHS = ("/docs", "/redoc")
#: Job data is readable by whoever holds the id; shared caches must not keep a copy.
_NO_STORE = (b"cache-control", b"no-store")


class OriginGuard:
    """Answer 403 to a request whose ``Origin`` is not on the allow-list.

    CORS alone only stops the browser from *reading* the answer: a cross-site form POST
    would still create a job. Requests without ``Origin`` (curl, servers) pass.
    """

    def __init__(self, app: ASGIApp, *, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            origin = headers.get(b"origin")
            host = headers.get(b"host", b"").decode("latin-1")
            if origin is not None and not self.policy.allows(
                origin.decode("latin-1"), scope.get("scheme", "http"), host
            ):
                response = error_response(403, "origin not allowed", ErrorCode.ORIGIN_NOT_ALLOWED)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _headers_for(path: str) -> list[tuple[bytes, bytes]]:
    headers = list(_SECURITY_HEADERS)
    if not path.startswith(_DOCS_PATHS):
        headers.append(_CSP)
    if path.startswith(("/api/", "/socket.io")):
        headers.append(_NO_STORE)
    return headers


def with_security_headers(send: Send, path: str) -> Send:
    """``send``, adding the security headers of ``path`` to the response's start."""
    extra = _headers_for(path)

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            # The page's responses bring their own policy (web/page.py).
            own = any(name.lower() == _CSP[0] for name, _ in headers)
            message["headers"] = headers + [h for h in extra if not (own and h is _CSP)]
        await send(message)

    return send_with_headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, with_security_headers(send, scope["path"]))

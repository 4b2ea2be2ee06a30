"""HTTP: rate limit per client address (forwarded addresses only from trusted proxies),
security headers, and docs that can be turned off.

These run the real application in-process (``create_app``) through httpx's ASGI
transport, which lets each request come from any peer address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from audio_service.api.ratelimit import RateLimiter
from audio_service.config import Settings
from audio_service.main import create_app

LIMIT = 3


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "allowed_origins": ["http://localhost:3000"],
        "rate_limit_per_minute": LIMIT,
    }
    return Settings(**(values | overrides))


def app_for(settings: Settings) -> Callable[..., httpx.AsyncClient]:
    """One application; each client made for it comes from the given peer address."""
    app = create_app(settings)

    def client(peer: str = "203.0.113.7") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(peer, 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    return client


async def _create(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    # A body that is refused after the rate limit counted it: no job, no back-end needed.
    async with client as http:
        return await http.post("/api/analyze", json={"url": "ftp://x/"}, headers=headers)


async def test_job_creation_is_limited_per_address_with_retry_after() -> None:
    client = app_for(_settings())
    answers = [await _create(client()) for _ in range(LIMIT + 1)]
    assert [a.status_code for a in answers] == [400] * LIMIT + [429]
    limited = answers[-1]
    assert limited.json() == {"error": "too many jobs from this address", "code": "RATE_LIMITED"}
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["connection"] == "close"
    # Another address has its own quota.
    assert (await _create(client("198.51.100.9"))).status_code == 400


async def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    client = app_for(_settings())
    codes = [
        (await _create(client(), **{"x-forwarded-for": f"192.0.2.{i}"})).status_code
        for i in range(LIMIT + 1)
    ]
    assert codes[-1] == 429, "a spoofed X-Forwarded-For bought a fresh quota"


async def test_forwarded_for_from_a_trusted_proxy_names_the_client() -> None:
    client = app_for(_settings(trusted_proxies="10.0.0.0/8"))
    proxy = "10.1.2.3"
    for i in range(LIMIT):
        forwarded = f"192.0.2.{i}"
        assert (await _create(client(proxy), **{"x-forwarded-for": forwarded})).status_code == 400
    # Whatever the client writes left of the address our proxy appended proves nothing.
    spoofed = {"x-forwarded-for": "192.0.2.0, 192.0.2.200, 10.9.9.9"}
    assert (await _create(client(proxy), **spoofed)).status_code == 400
    for _ in range(LIMIT - 1):
        await _create(client(proxy), **spoofed)
    assert (await _create(client(proxy), **spoofed)).status_code == 429
    # The quota spent was 192.0.2.200's, not that of the address written on the far left.
    leftmost = {"x-forwarded-for": "192.0.2.0"}
    assert (await _create(client(proxy), **leftmost)).status_code == 400
    # A garbage header falls back to the proxy's own address, never to a free quota.
    garbage = {"x-forwarded-for": "not-an-address"}
    codes = [(await _create(client(proxy), **garbage)).status_code for _ in range(LIMIT + 1)]
    assert codes[-1] == 429


async def test_ipv6_clients_are_counted_per_64() -> None:
    client = app_for(_settings())
    codes = [(await _create(client(f"2001:db8:1:2::{i:x}"))).status_code for i in range(LIMIT + 1)]
    assert codes[-1] == 429, "every address of one /64 got its own quota"
    assert (await _create(client("2001:db8:1:3::1"))).status_code == 400


def test_the_limiter_stays_bounded_under_a_flood_of_addresses() -> None:
    limiter = RateLimiter(LIMIT, max_clients=1000)
    for i in range(20_000):
        limiter.check(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    assert len(limiter) <= 1000


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/api/jobs/unknown"),
        ("POST", "/api/analyze"),
        ("GET", "/nope"),
        ("GET", "/openapi.json"),
    ],
)
async def test_security_headers_on_every_answer(method: str, path: str) -> None:
    async with app_for(_settings())() as http:
        response = await http.request(method, path)
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    if path.startswith("/api/"):
        assert headers["cache-control"] == "no-store"


async def test_docs_keep_their_scripts_and_can_be_turned_off() -> None:
    async with app_for(_settings())() as http:
        docs = await http.get("/docs")
        assert (await http.get("/")).json()["docs"] == "/docs"
    assert docs.status_code == 200 and "content-security-policy" not in docs.headers
    async with app_for(_settings(enable_docs=False))() as http:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await http.get(path)).status_code == 404, path
        # The root no longer points at docs that are not there.
        assert (await http.get("/")).json()["docs"] is None

"""Job creations per client address per minute (a sliding window)."""

from __future__ import annotations

import ipaddress
import time
from collections import deque

from fastapi import Request

from audio_service.config import Settings
from audio_service.errors import RateLimited

_WINDOW = 60.0


def client_address(request: Request, settings: Settings) -> str:
    """The client's address; X-Forwarded-For is believed only from a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    if peer not in settings.trusted_proxies:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    # The right-most address not added by one of our proxies is the real client.
    for hop in reversed(hops):
        if hop not in settings.trusted_proxies:
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


class RateLimiter:
    def __init__(self, per_minute: int, *, max_clients: int = 100_000) -> None:
        self.per_minute = per_minute
        self.max_clients = max_clients
        self._hits: dict[str, deque[float]] = {}

    def check(self, key: str) -> None:
        """Count one hit for ``key``, raising :class:`RateLimited` past the limit."""
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_clients:
                self._prune(now)
            hits = self._hits[key] = deque()
        while hits and now - hits[0] >= _WINDOW:
            hits.popleft()
        if len(hits) >= self.per_minute:
            raise RateLimited(
                "too many jobs from this address", retry_after=_WINDOW - (now - hits[0])
            )
        hits.append(now)

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= _WINDOW]:
            del self._hits[key]

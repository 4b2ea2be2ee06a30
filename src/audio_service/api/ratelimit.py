"""Job creations per client address per minute (a sliding window).

The count is per API node. Behind a load balancer that spreads one client over several
nodes the effective limit is the per-node limit times the node count (see SECURITY.md).
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from functools import lru_cache

from fastapi import Request

from audio_service.config import Settings
from audio_service.errors import RateLimited

_WINDOW = 60.0
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: One IPv6 subscriber gets a whole /64; counting single addresses would give it 2^64 quotas.
_IPV6_PREFIX = 64


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _parse(text: str) -> _Address | None:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def client_address(request: Request, settings: Settings) -> str:
    """The client's address; X-Forwarded-For is believed only from a trusted proxy.

    ``TRUSTED_PROXIES`` lists addresses or networks (``10.0.0.0/8``).
    """
    peer = request.client.host if request.client else "unknown"
    trusted = _networks(tuple(settings.trusted_proxies))
    peer_ip = _parse(peer)
    if peer_ip is None or not any(peer_ip in net for net in trusted):
        return peer
    hops = request.headers.get("x-forwarded-for", "").split(",")
    # The right-most address not added by one of our proxies is the real client; anything
    # to its left was written by the client and proves nothing.
    for hop in reversed(hops):
        ip = _parse(hop)
        if ip is None:
            return peer
        if not any(ip in net for net in trusted):
            return str(ip)
    return peer


def rate_key(address: str) -> str:
    """The bucket an address counts against: itself, or its /64 for IPv6."""
    ip = _parse(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, _IPV6_PREFIX), strict=False))
    return str(ip) if ip is not None else address


class RateLimiter:
    """In-memory sliding windows, at most ``max_clients`` of them (oldest evicted first)."""

    def __init__(self, per_minute: int, *, max_clients: int = 100_000) -> None:
        self.per_minute = per_minute
        self.max_clients = max_clients
        self._hits: dict[str, deque[float]] = {}

    def check(self, address: str) -> None:
        """Count one hit for ``address``, raising :class:`RateLimited` past the limit."""
        if self.per_minute <= 0:
            return
        key = rate_key(address)
        now = time.monotonic()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_clients:
                self._make_room(now)
            hits = self._hits[key] = deque()
        while hits and now - hits[0] >= _WINDOW:
            hits.popleft()
        if len(hits) >= self.per_minute:
            raise RateLimited(
                "too many jobs from this address", retry_after=_WINDOW - (now - hits[0])
            )
        hits.append(now)

    def _make_room(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= _WINDOW]:
            del self._hits[key]
        # Under a flood from more addresses than fit, forget the oldest tenth at once, so
        # the scan above runs once per max_clients/10 new addresses, not once per address.
        excess = len(self._hits) - int(self.max_clients * 0.9)
        for key in list(self._hits)[: max(0, excess)]:
            del self._hits[key]

    def __len__(self) -> int:
        return len(self._hits)

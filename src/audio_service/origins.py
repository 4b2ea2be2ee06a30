"""Which browser origins may use the service: the allow-list, plus the service's own page.

The page at ``/`` talks to the service it came from, so its origin (the request's own
scheme and Host) is allowed without configuration, but only for a loopback or IP-literal
host: under a DNS name, a same-origin check alone would let a DNS-rebinding page (a foreign
site whose name now resolves to this server) pass as "same origin". A deployment that
serves the page under a name lists that origin in ``ALLOWED_ORIGINS``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
_HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def _literal_or_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def is_own_origin(origin: str, scheme: str | None, host_header: str) -> bool:
    """True when ``origin`` is this request's own origin on a loopback or IP-literal host.

    ``scheme`` None accepts http and https alike (python-engineio does not pass the real
    scheme on); one port serves one of them, so the host and port decide.
    """
    if not host_header:
        return False
    schemes = {"http", "https"} if scheme is None else {_HTTP_SCHEME.get(scheme.lower(), "")}
    given_scheme, _, given_host = origin.rstrip("/").lower().partition("://")
    if given_scheme not in schemes or given_host != host_header.lower():
        return False
    host = urlsplit(f"//{host_header}").hostname or ""
    return _literal_or_loopback(host)


class OriginPolicy:
    """The allow-list of ``ALLOWED_ORIGINS``, and optionally the service's own origin."""

    def __init__(self, allowed: Iterable[str], *, allow_own: bool) -> None:
        self.allowed = frozenset(origin.rstrip("/") for origin in allowed)
        self.allow_own = allow_own

    def allows(self, origin: str, scheme: str | None, host_header: str) -> bool:
        if origin.rstrip("/") in self.allowed:
            return True
        return self.allow_own and is_own_origin(origin, scheme, host_header)

    def engineio_check(self, origin: str | None, environ: dict[str, Any]) -> bool:
        """python-engineio's ``cors_allowed_origins`` callable (a missing Origin passes)."""
        if not origin:
            return True
        return self.allows(origin, None, str(environ.get("HTTP_HOST", "")))

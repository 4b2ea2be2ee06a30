"""Refuse connections to private, loopback and link-local addresses (SSRF defence).

URL jobs run in their own process; :func:`install` wraps :func:`socket.getaddrinfo` there
so that every connection the process makes (yt-dlp's first request, each redirect, each
fragment) is checked at connect time against the address it will really use. Checking the
URL's host once up front would miss redirects and DNS rebinding.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from audio_service.errors import InvalidURL

_ALLOWED_SCHEMES = ("http", "https")
#: Carrier-grade NAT (RFC 6598) is not flagged private by the ipaddress module.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def forbidden_address(address: str) -> bool:
    """True for any address a public URL job must never reach."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT)
    )


def check_url_syntax(url: str) -> str:
    """Refuse what is not an absolute http(s) URL with a host; return the host."""
    if len(url) > 2048:
        raise InvalidURL("URL is too long")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise InvalidURL(f"malformed URL: {exc}") from exc
    if parts.scheme.lower() not in _ALLOWED_SCHEMES:
        raise InvalidURL("only http and https URLs are accepted")
    if not host:
        raise InvalidURL("URL has no host")
    return host


def check_addresses(infos: list[Any]) -> None:
    for info in infos:
        address = info[4][0]
        if forbidden_address(address):
            raise InvalidURL("URL resolves to a private or reserved address")


def install() -> None:
    """Make every name resolution in this process refuse forbidden addresses."""
    original = socket.getaddrinfo

    def guarded(*args: Any, **kwargs: Any) -> Any:
        infos = original(*args, **kwargs)
        check_addresses(infos)
        return infos

    socket.getaddrinfo = guarded

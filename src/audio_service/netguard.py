"""Refuse connections to private, loopback and link-local addresses (SSRF defence).

URL jobs run in their own process; :func:`install` guards that whole process:

* :func:`socket.getaddrinfo` refuses a name that resolves to a forbidden address, so
  yt-dlp's first request, every redirect and every fragment fail with a clear message;
* :meth:`socket.socket.connect` checks the address it is really about to connect to, which
  also covers numeric hosts that some clients (asyncio, websockets) never resolve, and
  closes the gap of DNS rebinding between a check and the connection.

Checking the URL's host once up front (as the API does, to refuse early) would miss
redirects and rebinding; checking at connect time misses nothing made from Python. External
programs (ffmpeg) do their own networking, so the job process never lets them touch a URL
(see ``jobs/extract.py``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from audio_service.errors import InvalidURL

_ALLOWED_SCHEMES = ("http", "https")
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Carrier-grade NAT (RFC 6598); older Pythons do not count it as private.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
#: NAT64 (RFC 6052) and IPv4-compatible addresses carry an IPv4 address in their low bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_INET = (socket.AF_INET, socket.AF_INET6)

#: Every refusal by the installed guard, in order (a job process makes a handful).
#: yt-dlp tries each of its HTTP handlers and reports their exceptions as "unexpected
#: errors", so the caller looks here to tell a refused address from a failed download.
REFUSED: list[InvalidURL] = []


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a packet to ``ip`` may end up at (mapped, 6to4, Teredo, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _V4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _special(ip: _IP) -> bool:
    # ``is_global`` alone differs between Python releases; every flag is checked.
    return bool(
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT)
    )


def forbidden_address(address: str) -> bool:
    """True for any address a public URL job must never reach."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            if _special(embedded):
                return True
            # A mapped or NAT64 address *is* its IPv4 address: public means allowed.
            if ip.ipv4_mapped is not None or ip in _NAT64:
                return False
    return _special(ip)


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
    try:
        # What the resolver will do with it: a label of 64+ characters, an empty one or an
        # undecodable name raised UnicodeError from the IDNA codec there (a 500).
        host.encode("idna")
    except UnicodeError as exc:
        raise InvalidURL("malformed host name") from exc
    return host


def check_addresses(infos: list[Any]) -> None:
    """Refuse ``getaddrinfo`` results if any of them is a forbidden address."""
    for info in infos:
        if info[0] in _INET and forbidden_address(str(info[4][0])):
            raise InvalidURL("URL resolves to a private or reserved address")


def _check_sockaddr(family: int, address: Any) -> None:
    if family not in _INET:
        return  # Unix sockets and socket pairs: the job's own plumbing
    host = str(address[0])
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        # connect() with a name resolves in C, past the guarded getaddrinfo.
        raise InvalidURL("connections by host name are not allowed here") from None
    if forbidden_address(host):
        raise InvalidURL("URL leads to a private or reserved address")


def _recorded(check: Callable[..., None], *args: Any) -> None:
    try:
        check(*args)
    except InvalidURL as exc:
        REFUSED.append(exc)
        raise


def install() -> None:
    """Make every name resolution and connection in this process refuse forbidden addresses."""
    original_getaddrinfo = socket.getaddrinfo
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        infos = original_getaddrinfo(*args, **kwargs)
        _recorded(check_addresses, infos)
        return infos

    def connect(self: Any, address: Any) -> None:
        _recorded(_check_sockaddr, self.family, address)
        original_connect(self, address)

    def connect_ex(self: Any, address: Any) -> int:
        _recorded(_check_sockaddr, self.family, address)
        return original_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]

from __future__ import annotations

import socket

import pytest

from audio_service import netguard
from audio_service.errors import InvalidURL


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "224.0.0.1",
    ],
)
def test_private_and_special_addresses_are_forbidden(address: str) -> None:
    assert netguard.forbidden_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_pass(address: str) -> None:
    assert not netguard.forbidden_address(address)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/a.mp3", "gopher://x", "http://", "//x/y"]
)
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(InvalidURL):
        netguard.check_url_syntax(url)


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f000001", "[::ffff:127.0.0.1]"])
def test_numeric_hosts_resolve_to_what_they_are(host: str) -> None:
    infos = socket.getaddrinfo(host.strip("[]"), 80, type=socket.SOCK_STREAM)
    with pytest.raises(InvalidURL):
        netguard.check_addresses(infos)

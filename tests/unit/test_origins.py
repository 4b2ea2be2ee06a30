"""The origin policy: the allow-list, plus the service's own page on loopback or IP hosts."""

from __future__ import annotations

import pytest

from audio_service.origins import OriginPolicy, is_own_origin


@pytest.mark.parametrize(
    ("origin", "scheme", "host", "expected"),
    [
        ("http://127.0.0.1:8000", "http", "127.0.0.1:8000", True),
        ("http://localhost:8000", "http", "localhost:8000", True),
        ("http://[::1]:8000", "http", "[::1]:8000", True),
        ("http://10.0.0.5", "http", "10.0.0.5", True),
        ("https://127.0.0.1:8443", None, "127.0.0.1:8443", True),
        ("http://127.0.0.1:8001", "http", "127.0.0.1:8000", False),  # another port
        ("https://127.0.0.1:8000", "http", "127.0.0.1:8000", False),  # another scheme
        ("http://evil.example:8000", "http", "evil.example:8000", False),  # DNS rebinding
        ("http://127.0.0.1:8000", "http", "", False),
        ("null", "http", "127.0.0.1:8000", False),
    ],
)
def test_own_origin(origin: str, scheme: str | None, host: str, expected: bool) -> None:
    assert is_own_origin(origin, scheme, host) is expected


def test_policy_allow_list_and_switch() -> None:
    policy = OriginPolicy(["https://app.example/"], allow_own=False)
    assert policy.allows("https://app.example", "http", "127.0.0.1:8000")
    assert not policy.allows("http://127.0.0.1:8000", "http", "127.0.0.1:8000")
    own = OriginPolicy([], allow_own=True)
    assert own.engineio_check("http://127.0.0.1:8000", {"HTTP_HOST": "127.0.0.1:8000"})
    assert not own.engineio_check("https://evil.example", {"HTTP_HOST": "127.0.0.1:8000"})
    assert own.engineio_check(None, {})

from __future__ import annotations

import pytest
from pydantic import ValidationError

from audio_service.backends import create_backend
from audio_service.backends.memory import MemoryBackend
from audio_service.backends.redis import RedisBackend
from audio_service.config import Settings


def test_origins_accept_json_and_comma_lists() -> None:
    assert Settings(
        allowed_origins='["https://a.example", "https://b.example"]'
    ).allowed_origins == ["https://a.example", "https://b.example"]
    assert Settings(allowed_origins="https://a.example, https://b.example").allowed_origins == [
        "https://a.example",
        "https://b.example",
    ]


def test_wildcard_origin_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValidationError, match="explicit origins"):
        Settings(allowed_origins="*")


def test_environment_names_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_UPLOAD_MB", "5")
    monkeypatch.setenv("JOB_RETENTION_SECONDS", "7")
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    monkeypatch.setenv("TEMP_DIR", "")
    settings = Settings()
    assert settings.max_upload_bytes == 5 * 1024 * 1024
    assert settings.job_retention_seconds == 7
    assert settings.allow_private_urls is True
    assert settings.temp_dir


def test_redis_url_must_be_redis() -> None:
    with pytest.raises(ValidationError):
        Settings(redis_url="http://localhost:6379")


@pytest.mark.parametrize("url", ["", "memory://"])
def test_memory_is_the_default_back_end_and_can_be_named(url: str) -> None:
    settings = Settings(_env_file=None, redis_url=url)
    assert settings.embedded
    assert settings.backend_url == "memory://"
    assert isinstance(create_backend(settings), MemoryBackend)


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://redis.example:6380/1", "unix:///run/r.sock"]
)
def test_a_redis_scheme_chooses_the_redis_back_end(url: str) -> None:
    settings = Settings(_env_file=None, redis_url=url)
    assert not settings.embedded
    # Building the client connects nothing yet: no network is touched here.
    assert isinstance(create_backend(settings), RedisBackend)

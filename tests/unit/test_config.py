from __future__ import annotations

import pytest
from pydantic import ValidationError

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

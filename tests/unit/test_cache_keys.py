"""Which submissions count as the same song for the analysis cache."""

from __future__ import annotations

import pytest

from audio_service.jobs.cache_keys import upload_key, url_key, youtube_id

VIDEO = "dQw4w9WgXcQ"


@pytest.mark.parametrize(
    "url",
    [
        f"https://www.youtube.com/watch?v={VIDEO}",
        f"https://youtube.com/watch?feature=share&v={VIDEO}&t=42",
        f"http://m.youtube.com/watch?v={VIDEO}#comments",
        f"https://music.youtube.com/watch?v={VIDEO}&list=RD",
        f"https://youtu.be/{VIDEO}?si=abc",
        f"https://www.youtube.com/shorts/{VIDEO}",
        f"https://www.youtube.com/embed/{VIDEO}",
        f"  https://WWW.YOUTUBE.COM/watch?v={VIDEO}  ",
    ],
)
def test_every_form_of_a_youtube_link_is_the_video_id(url: str) -> None:
    assert youtube_id(url) == VIDEO
    assert url_key(url) == f"youtube:{VIDEO}"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/watch?v=short",
        "https://www.youtube.com/channel/UC1234567890",
        f"https://notyoutube.com/watch?v={VIDEO}",
        f"https://youtube.com.evil.example/watch?v={VIDEO}",
    ],
)
def test_not_a_video(url: str) -> None:
    assert youtube_id(url) is None
    assert not url_key(url).startswith("youtube:")


def test_other_urls_are_normalised_but_keep_path_and_query() -> None:
    key = url_key("HTTPS://Example.COM:443/a/Song.mp3?x=1#part")
    assert key == "url:https://example.com/a/Song.mp3?x=1"
    assert url_key("https://example.com/a/Song.mp3?x=1") == key
    assert url_key("https://example.com:8443/a/Song.mp3?x=1") != key
    assert url_key("https://example.com/a/song.mp3?x=1") != key
    assert url_key("https://example.com") == "url:https://example.com/"


def test_upload_key_is_the_digest() -> None:
    assert upload_key("ab" * 32) == "sha256:" + "ab" * 32

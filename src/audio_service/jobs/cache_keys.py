"""What makes two jobs the same song: the uploaded bytes, or the media a URL names."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit, urlunsplit

_YOUTUBE_HOSTS = frozenset(
    {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com", "youtu.be"}
)
_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def upload_key(sha256_hex: str) -> str:
    return f"sha256:{sha256_hex}"


def youtube_id(url: str) -> str | None:
    """The video id of a YouTube watch, short, embed or youtu.be URL, else None."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if host not in _YOUTUBE_HOSTS:
        return None
    path = parts.path.rstrip("/")
    if host == "youtu.be":
        candidate = path.lstrip("/")
    elif path == "/watch":
        candidate = parse_qs(parts.query).get("v", [""])[0]
    elif path.startswith(("/shorts/", "/embed/", "/live/", "/v/")):
        candidate = path.split("/")[2]
    else:
        return None
    return candidate if _VIDEO_ID.match(candidate) else None


def url_key(url: str) -> str:
    """YouTube URLs by video id (every form of the link); others without the fragment,
    with the scheme and host in lower case and the default port dropped."""
    video = youtube_id(url)
    if video is not None:
        return f"youtube:{video}"
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    return "url:" + urlunsplit((scheme, host, parts.path or "/", parts.query, ""))

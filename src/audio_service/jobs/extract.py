"""Download the media of a URL job with yt-dlp, used as a library.

Runs inside the job's own process (``jobs/process.py``), where :mod:`netguard` checks
every connection. yt-dlp is configured to do nothing but fetch one media file: no
playlists, no post-processors or ``exec``, no external downloader, no file URLs, a size
cap and socket timeouts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audio_service.errors import DownloadError, InvalidURL

logger = logging.getLogger(__name__)


class _QuietLogger:
    def debug(self, msg: str) -> None:
        return None

    def info(self, msg: str) -> None:
        return None

    def warning(self, msg: str) -> None:
        logger.debug("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        logger.debug("yt-dlp: %s", msg)


def download(
    url: str,
    work_dir: Path,
    *,
    max_bytes: int,
    on_progress: Callable[[float], None],
    timeout: float = 20.0,
) -> Path:
    """Fetch the best audio of ``url`` into ``work_dir`` and return the file's path.

    ``on_progress`` gets the downloaded fraction (0..1) when the size is known.
    """
    import yt_dlp  # heavy: imported only in the job process

    def hook(status: dict[str, Any]) -> None:
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        done = status.get("downloaded_bytes") or 0
        if total and done > max_bytes:
            raise DownloadError("download is larger than the limit")
        if total:
            on_progress(min(1.0, done / total))

    options: dict[str, Any] = {
        "format": "bestaudio/best",
        "outtmpl": str(work_dir / "media.%(ext)s"),
        "paths": {"home": str(work_dir), "temp": str(work_dir)},
        "noplaylist": True,
        "playlist_items": "1",
        "max_filesize": max_bytes,
        "socket_timeout": timeout,
        "retries": 1,
        "fragment_retries": 1,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _QuietLogger(),
        "progress_hooks": [hook],
        "cachedir": False,
        "restrictfilenames": True,
        "overwrites": True,
        "enable_file_urls": False,
    }
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            ydl.extract_info(url, download=True)
    except InvalidURL:
        raise
    except yt_dlp.utils.DownloadError as exc:
        cause = exc.exc_info[1] if exc.exc_info else None
        if isinstance(cause, InvalidURL | DownloadError):
            raise cause from exc
        raise DownloadError(_short(str(exc))) from exc
    except yt_dlp.utils.YoutubeDLError as exc:
        raise DownloadError(_short(str(exc))) from exc
    files = [p for p in work_dir.iterdir() if p.is_file() and not p.name.endswith(".part")]
    if not files:
        raise DownloadError("the URL did not yield a media file")
    return max(files, key=lambda p: p.stat().st_size)


def _short(message: str) -> str:
    return message.replace("ERROR: ", "").splitlines()[0][:300]

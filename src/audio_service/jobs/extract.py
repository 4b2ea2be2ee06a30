"""Download the media of a URL job with yt-dlp, used as a library.

Runs inside the job's own process (``jobs/process.py``), where :mod:`netguard` checks
every connection. yt-dlp is configured to do nothing but fetch one media file:

* only formats it downloads itself, in Python (http(s), native HLS and DASH): ffmpeg or
  rtmpdump would open connections :mod:`netguard` cannot see, so yt-dlp is also told that
  ffmpeg does not exist, and live streams are refused;
* no playlists, no post-processors (hence no ``exec``), no external downloader, no file
  URLs, no proxy (it would hide the real destination from the guard), no plugins;
* a size cap that holds without a Content-Length, and a wall-clock deadline that holds
  against a server trickling bytes just fast enough to dodge the socket timeout.

The downloaded file gets a fixed, neutral name: a server-chosen extension such as ``.m3u8``
would make the decoder's ffmpeg treat the file as a playlist of other files.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from audio_service import netguard
from audio_service.errors import DownloadError, InvalidURL

logger = logging.getLogger(__name__)

#: Name of the downloaded file inside the job's work directory.
DOWNLOAD_NAME = "media.download"
#: Formats downloaded natively: yt-dlp's ``http``, ``https``, ``http_dash_segments*`` and
#: ``m3u8_native`` protocols.
_FORMAT = "/".join(
    f"{kind}[protocol^=http]/{kind}[protocol=m3u8_native]" for kind in ("bestaudio", "best")
)
#: Stands in for ffmpeg so that yt-dlp never finds (and never runs) one.
_NO_FFMPEG = "/nonexistent/ffmpeg"


class _QuietLogger:
    def debug(self, msg: str) -> None:
        return None

    def info(self, msg: str) -> None:
        return None

    def warning(self, msg: str) -> None:
        logger.debug("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        logger.debug("yt-dlp: %s", msg)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`DownloadError` in this (main) thread once ``seconds`` have passed.

    A blocking read is interrupted by the signal. The timer repeats every second, in case
    a library swallows the first exception, until the block exits.
    """

    def expire(signum: int, frame: FrameType | None) -> None:
        raise DownloadError(f"the download took longer than {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def download(
    url: str,
    work_dir: Path,
    *,
    max_bytes: int,
    on_progress: Callable[[float], None],
    deadline: float,
    timeout: float = 20.0,
) -> Path:
    """Fetch the best audio of ``url`` into ``work_dir`` and return the file's path.

    ``on_progress`` gets the downloaded fraction (0..1) when the size is known;
    ``deadline`` bounds the whole download (seconds), ``timeout`` each socket read.
    """
    # yt-dlp loads plugins from well-known directories on first use: none here.
    os.environ["YTDLP_NO_PLUGINS"] = "1"
    import yt_dlp  # heavy: imported only in the job process
    from yt_dlp.utils import match_filter_func

    started = time.monotonic()
    refused_before = len(netguard.REFUSED)

    def hook(status: dict[str, Any]) -> None:
        done = status.get("downloaded_bytes") or 0
        # Checked on every block: a chunked response has no size to refuse up front.
        if done > max_bytes:
            raise DownloadError(f"the download is larger than {max_bytes // (1024 * 1024)} MB")
        if time.monotonic() - started > deadline:
            raise DownloadError(f"the download took longer than {deadline:g}s")
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        if total:
            on_progress(min(1.0, done / total))

    options: dict[str, Any] = {
        "format": _FORMAT,
        "match_filter": match_filter_func("!is_live"),
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
        "postprocessors": [],
        "external_downloader": {"default": "native"},
        "ffmpeg_location": _NO_FFMPEG,
        "fixup": "never",
        "proxy": "",
        "cachedir": False,
        "restrictfilenames": True,
        "overwrites": True,
        "enable_file_urls": False,
    }
    try:
        with _deadline(deadline), yt_dlp.YoutubeDL(options) as ydl:
            ydl.extract_info(url, download=True)
        files = [p for p in work_dir.iterdir() if p.is_file() and not p.name.endswith(".part")]
        if not files:
            raise DownloadError("the URL did not yield a media file")
    except Exception as exc:
        # A refused address explains the failure, however yt-dlp wrapped it.
        if len(netguard.REFUSED) > refused_before:
            raise netguard.REFUSED[-1] from exc
        if isinstance(exc, InvalidURL | DownloadError):
            raise
        cause = exc.exc_info[1] if isinstance(exc, yt_dlp.utils.DownloadError) else None
        if isinstance(cause, InvalidURL | DownloadError):  # raised in our progress hook
            raise cause from exc
        if isinstance(exc, yt_dlp.utils.YoutubeDLError):
            raise DownloadError(_short(str(exc))) from exc
        raise
    return max(files, key=lambda p: p.stat().st_size).rename(work_dir / DOWNLOAD_NAME)


def _short(message: str) -> str:
    return message.replace("ERROR: ", "").splitlines()[0][:300]

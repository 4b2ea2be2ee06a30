"""Decoding through the ffmpeg binary of imageio-ffmpeg, for containers libsndfile cannot open.

ffmpeg is probed once (``ffmpeg -i``, whose stream summary names the sample rate and channel
layout), then run again to stream raw little-endian float32 PCM on stdout. The process is
killed on :meth:`FfmpegSource.close` whatever state it is in.

An uploaded file is hostile input to ffmpeg: a playlist (HLS, DASH) or a concat list would
make it fetch URLs or read other local files, beyond any network guard of this process. So
it may open nothing but the given file (protocol whitelist) and only parse media containers
that cannot reference other resources (demuxer whitelist).
"""

from __future__ import annotations

import logging
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from audio_service.analysis.source import AudioSource, check_format
from audio_service.errors import DecodeError

#: The probe only reads headers; a file that takes longer than this is not worth decoding.
PROBE_TIMEOUT_SECONDS = 30.0
#: Used when the stream summary names no sample rate (rare, e.g. some raw streams).
FALLBACK_SAMPLERATE = 44_100

#: Demuxers ffmpeg may use: audio and audio/video containers, none of them a playlist.
DEMUXERS = (
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "ogg",
    "mp3",
    "aac",
    "loas",
    "flac",
    "wav",
    "w64",
    "aiff",
    "caf",
    "asf",
    "avi",
    "flv",
    "mpegts",
    "mpeg",
    "amr",
    "ac3",
    "eac3",
    "dts",
    "truehd",
    "wv",
    "ape",
    "tta",
    "mpc",
    "mpc8",
    "au",
    "voc",
    "xwma",
    "dsf",
)

# Anchored at the start of a line: ffmpeg prints tags (a title, a comment) on their own
# indented "key : value" lines, and a title reading "Stream #0:0: Audio: opus, 384000 Hz,
# stereo" made an unanchored search take an 8 kHz mono stream for 384 kHz stereo.
logger = logging.getLogger(__name__)

_STREAM = re.compile(r"^\s*Stream #\d+:\d+", re.MULTILINE)
_AUDIO_STREAM = re.compile(r"^\s*Stream #\d+:\d+[^\n]*?: Audio: (?P<spec>[^\n]*)", re.MULTILINE)
_RATE = re.compile(r"(\d+) Hz")
_DURATION = re.compile(r"^\s*Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)", re.MULTILINE)
_CHANNELS = re.compile(r"(\d+) channels")


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg (or named by IMAGEIO_FFMPEG_EXE)."""
    import imageio_ffmpeg

    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as e:
        raise DecodeError(f"ffmpeg is not available to decode this format ({e})") from e


def _input_args(path: Path) -> list[str]:
    """Options and input that confine ffmpeg to this one local file."""
    return [
        "-hide_banner",
        "-nostdin",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        ",".join(DEMUXERS),
        "-i",
        # The "file:" prefix keeps a name like "http:x" from being read as a URL.
        "file:" + str(path.resolve()),
    ]


def _parse_probe(text: str, name: str) -> tuple[int, int, float | None]:
    """Sample rate, output channels (1 or 2) and duration from ``ffmpeg -i`` output."""
    stream = _AUDIO_STREAM.search(text)
    if stream is None:
        raise DecodeError(f"{name}: no audio stream found")
    spec = stream.group("spec")
    rate = _RATE.search(spec)
    samplerate = int(rate.group(1)) if rate else FALLBACK_SAMPLERATE
    counted = _CHANNELS.search(spec)
    layout_channels = int(counted.group(1)) if counted else (1 if ", mono" in spec else 2)
    # Analysis works on a mono mix, so anything wider than stereo is downmixed by ffmpeg.
    check_format(samplerate, layout_channels, name)
    channels = 1 if layout_channels == 1 else 2
    duration = None
    found = _DURATION.search(text)
    if found:
        hours, minutes, seconds = found.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return samplerate, channels, duration


class FfmpegSource(AudioSource):
    """Audio decoded by an ffmpeg subprocess (see :func:`audio_service.analysis.open_audio`)."""

    def __init__(self, path: Path, *, name: str, max_duration: float | None) -> None:
        super().__init__(name=name, max_duration=max_duration)
        self._path = path
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        try:
            probe = subprocess.run(
                [ffmpeg_exe(), *_input_args(path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=PROBE_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise DecodeError(f"{name}: not a decodable audio file") from e
        text = probe.stderr.decode("utf-8", "replace")
        if _AUDIO_STREAM.search(text) is None:
            if _STREAM.search(text):
                raise DecodeError(f"{name}: the file has no audio stream")
            raise DecodeError(f"{name}: not a decodable audio file")
        self.samplerate, self.channels, duration = _parse_probe(text, name)
        # The container's duration is an estimate, good enough for progress reporting.
        self.frames = round(duration * self.samplerate) if duration else None

    def _command(self) -> list[str]:
        return [
            ffmpeg_exe(),
            "-v",
            "error",
            *_input_args(self._path),
            "-map",
            "0:a:0",
            "-vn",
            "-ac",
            str(self.channels),
            "-ar",
            str(self.samplerate),
            "-f",
            "f32le",
            "-acodec",
            "pcm_f32le",
            "pipe:1",
        ]

    def _read(self, block_frames: int) -> Iterator[np.ndarray]:
        # A file, not a pipe: nobody reads ffmpeg's messages while it runs, and a full pipe
        # would block it.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen(
            self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr
        )
        assert self._proc.stdout is not None
        frame_bytes = 4 * self.channels
        pending = b""
        decoded = 0
        while True:
            data = self._proc.stdout.read(block_frames * frame_bytes)
            if not data:
                break
            data = pending + data
            usable = len(data) - len(data) % frame_bytes
            pending = data[usable:]
            if usable:
                decoded += usable // frame_bytes
                samples = np.frombuffer(data[:usable], dtype="<f4").astype(np.float32)
                yield samples.reshape(-1, self.channels)
        status = self._proc.wait()
        if status != 0 and decoded == 0:
            assert self._stderr is not None
            self._stderr.seek(0)
            lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
            # ffmpeg's message names the job's temporary file: the log gets it, not clients.
            logger.warning("ffmpeg could not decode %s: %s", self._path, lines[-1:] or status)
            raise DecodeError(f"{self.name}: cannot decode audio")

    def close(self) -> None:
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            if proc.stdout is not None:
                proc.stdout.close()
            proc.wait()
        if self._stderr is not None:
            self._stderr.close()

"""Bad audio files, generated here (seeded) rather than stored."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import soundfile as sf

from tests.support.signals import SR, music

#: Seconds of audio in the files that start out valid.
SECONDS = 3.0


def _encode(fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, music(SECONDS, seed=11), SR, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _video_without_audio(tmp: Path) -> bytes:
    out = tmp / "video.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=5:duration=2",
            "-c:v",
            "mpeg4",
            str(out),
        ],
        check=True,
        timeout=60,
    )
    return out.read_bytes()


def valid_wav() -> bytes:
    """:data:`SECONDS` of 16-bit mono WAV with a plain 44-byte header."""
    return _encode("WAV", "PCM_16")


def patch(data: bytes, offset: int, value: bytes) -> bytes:
    """``data`` with ``value`` written over it at ``offset``."""
    return data[:offset] + value + data[offset + len(value) :]


def no_audio_at_all(tmp: Path, media_url: str) -> dict[str, bytes]:
    """Files with nothing decodable: each must end as DECODE_ERROR (or be refused at once).

    ``media_url`` is where a playlist's segments point: the decoder must never fetch them.
    """
    rng = np.random.default_rng(5)
    mp3, flac, ogg, wav = _encode("MP3"), _encode("FLAC"), _encode("OGG"), valid_wav()
    return {
        "empty.wav": b"",
        "random.mp3": rng.bytes(50_000),
        "truncated-header.mp3": mp3[:200],
        "truncated-header.flac": flac[:100],
        "truncated-header.ogg": ogg[:150],
        "id3-only.mp3": b"ID3\x04\x00\x00\x00\x00\x00\x20" + b"\x00" * 32,
        "text.wav": b"these are not the samples you are looking for\n" * 200,
        "video-no-audio.mp4": _video_without_audio(tmp),
        # A WAV header claiming 0 channels, or 2^31 Hz: refused before anything is sized.
        "zero-channels.wav": patch(wav, 22, struct.pack("<H", 0)),
        "huge-rate.wav": patch(wav, 24, struct.pack("<I", 2**31)),
        "playlist.m3u8": (
            f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{media_url}/segment.ts\n"
            "#EXTINF:10,\n/etc/passwd\n#EXT-X-ENDLIST\n"
        ).encode(),
        "concat.ffconcat": b"ffconcat version 1.0\nfile /etc/passwd\n",
    }


def damaged_but_decodable() -> dict[str, bytes]:
    """Files that still hold some audio: analysed for what they hold, or refused.

    Never more than :data:`SECONDS` of analysis, whatever their headers claim.
    """
    mp3, flac, ogg, wav = _encode("MP3"), _encode("FLAC"), _encode("OGG"), valid_wav()
    return {
        "truncated-half.mp3": mp3[: len(mp3) // 2],
        "truncated-half.flac": flac[: len(flac) // 2],
        "truncated-half.ogg": ogg[: len(ogg) // 2],
        # The data chunk claims 2 GiB (12,000 s): the file holds 3 s.
        "lying-size.wav": patch(wav, 40, struct.pack("<I", 0x7FFFFFF0)),
    }

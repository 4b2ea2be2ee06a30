"""The ffmpeg probe reads stream lines only: a tag cannot spoof the format.

From the review: a title tag reading like a stream line made the parser take an 8 kHz
mono stream for 384 kHz stereo, sizing everything after it on a lie.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from audio_service.analysis.ffmpeg import FfmpegSource, ffmpeg_exe

SPOOF = "Stream #0:0: Audio: opus, 384000 Hz, stereo, fltp"


@pytest.mark.parametrize("title", [SPOOF, "x\n  " + SPOOF, "Duration: 09:59:59.00, " + SPOOF])
def test_a_title_tag_cannot_spoof_the_stream_format(tmp_path: Path, title: str) -> None:
    raw = tmp_path / "noise.raw"
    raw.write_bytes(
        (np.random.default_rng(1).standard_normal(16000) * 3000).astype("<i2").tobytes()
    )
    path = tmp_path / "spoof.m4a"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "s16le", "-ar", "8000",
         "-ac", "1", "-i", str(raw), "-c:a", "aac", "-metadata", f"title={title}", str(path)],
        check=True,
    )  # fmt: skip
    source = FfmpegSource(path, name="spoof.m4a", max_duration=None)
    try:
        assert (source.samplerate, source.channels) == (8000, 1)
        assert source.frames is not None and abs(source.frames / 8000 - 2.0) < 0.1
    finally:
        source.close()

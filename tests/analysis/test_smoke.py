"""End-to-end smoke test: a short generated WAV through analyze_file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from audio_service.analysis import analyze_file


def test_analyze_file_streams_segments_and_returns_strict_json(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    sr = 44_100
    audio = (0.1 * rng.standard_normal((int(3.5 * sr), 2))).astype(np.float32)
    path = tmp_path / "noise.wav"
    sf.write(path, audio, sr)
    seen: list[dict[str, object]] = []

    result = analyze_file(path, on_segment=seen.append)

    assert [s["start_time"] for s in seen] == [0.0, 1.0, 2.0, 3.0]
    assert seen[-1]["end_time"] == 3.5
    assert result["segments"] == seen
    assert result["segment_count"] == 4
    json.dumps(result, allow_nan=False)

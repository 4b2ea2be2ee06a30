"""Local and global tempo on beat tracks with known tempi."""

from __future__ import annotations

import numpy as np
import pytest

from audio_service.analysis import StreamingAnalyzer
from audio_service.analysis.segment import MIN_TEMPO_SECONDS, TEMPO_WINDOW_SECONDS
from audio_service.analysis.tempo import estimate_tempo
from tests.support import signals


def analyse(audio: np.ndarray) -> tuple[list[dict[str, object]], dict[str, object]]:
    analyzer = StreamingAnalyzer(signals.SR)
    segments = analyzer.push(audio) + analyzer.finish()
    return segments, analyzer.summary()


def steady_seconds(regions: list[tuple[float, float]]) -> list[tuple[int, float]]:
    """(second, true bpm) for every second whose whole tempo window lies in one region."""
    out, start = [], 0.0
    for bpm, seconds in regions:
        end = start + seconds
        for second in range(int(start), int(end)):
            window_start = second + 1 - TEMPO_WINDOW_SECONDS
            if window_start >= start and second + 1 <= end:
                out.append((second, bpm))
        start = end
    return out


@pytest.mark.parametrize("bpm", [70, 90, 120, 150])
def test_steady_tempo_per_second_and_global(bpm: float) -> None:
    regions = [(bpm, 20.0)]
    segments, summary = analyse(signals.beat_track(regions, seed=bpm))
    steady = steady_seconds(regions)
    assert len(steady) >= 12
    good = [abs(segments[s]["tempo"] - truth) <= 2 for s, truth in steady]  # type: ignore[operator]
    assert sum(good) >= 0.95 * len(steady)
    assert summary["tempo"]["bpm"] == pytest.approx(bpm, abs=1.0)  # type: ignore[index]
    assert summary["tempo"]["confidence"] > 0.3  # type: ignore[index]


def test_tempo_change_is_followed() -> None:
    regions = [(90.0, 14.0), (140.0, 14.0)]
    segments, _ = analyse(signals.beat_track(regions, seed=3))
    steady = steady_seconds(regions)
    assert {truth for _, truth in steady} == {90.0, 140.0}
    good = [abs(segments[s]["tempo"] - truth) <= 2 for s, truth in steady]  # type: ignore[operator]
    assert sum(good) >= 0.95 * len(steady)


def test_tempo_is_null_until_enough_audio() -> None:
    segments, _ = analyse(signals.beat_track([(120.0, 8.0)], seed=1))
    for segment in segments:
        if float(segment["end_time"]) < MIN_TEMPO_SECONDS:  # type: ignore[arg-type]
            assert segment["tempo"] is None
            assert segment["tempo_confidence"] == 0.0
        else:
            assert segment["tempo"] == pytest.approx(120, abs=2)


def test_sub_lag_precision_beats_whole_lags() -> None:
    # At 43 frames/s whole lags near 120 BPM can only say 117.5 or 123.0.
    frame_rate = 44_100 / 1024
    t = np.arange(int(30 * frame_rate)) / frame_rate
    envelope = np.maximum(0, np.cos(2 * np.pi * 2.0 * t)) ** 16
    estimate = estimate_tempo(envelope, frame_rate=frame_rate, harmonics=8)
    assert estimate.bpm == pytest.approx(120.0, abs=0.2)
    assert estimate.confidence > 0.5


def test_no_tempo_in_a_flat_envelope() -> None:
    estimate = estimate_tempo(np.ones(400), frame_rate=43.0)
    assert estimate.bpm is None
    assert estimate.confidence == 0.0


@pytest.mark.parametrize("sr", [22_050, 48_000])
def test_tempo_at_other_sample_rates(sr: int) -> None:
    analyzer = StreamingAnalyzer(sr)
    analyzer.push(signals.beat_track([(100.0, 12.0)], sr=sr, seed=2))
    analyzer.finish()
    assert analyzer.summary()["tempo"]["bpm"] == pytest.approx(100.0, abs=1.0)

"""The streaming contract: segment timing, block-size independence, strict JSON, ranges."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from audio_service.analysis import StreamingAnalyzer
from audio_service.analysis.indices import EMOTIONS
from audio_service.analysis.spectral import frame_length
from tests.support import signals

SR = signals.SR
SEGMENT_KEYS = {
    "start_time",
    "end_time",
    "frequencies",
    "frequencies_db",
    "loudness",
    "loudness_db",
    "lufs",
    "lufs_momentary",
    "lufs_short_term",
    "spectral_centroid",
    "onset_strength",
    "beat_strength",
    "tempo",
    "tempo_confidence",
    "brain_regions",
    "brainwaves",
    "emotion",
}


def music(seconds: float, seed: int = 0) -> np.ndarray:
    beat = signals.beat_track([(110.0, seconds)], seed=seed)
    chords = signals.chord_progression("G", "major", repeats=int(seconds // 4) + 1)
    return beat + chords[: len(beat)]


def run(audio: np.ndarray, block: int | None = None) -> list[dict[str, Any]]:
    analyzer = StreamingAnalyzer(SR)
    segments: list[dict[str, Any]] = []
    step = block or len(audio)
    for start in range(0, len(audio), step):
        segments += analyzer.push(audio[start : start + step])
    return segments + analyzer.finish()


def test_whole_seconds_give_one_segment_each() -> None:
    segments = run(signals.white_noise(20.0, seed=1))
    assert [s["start_time"] for s in segments] == [float(i) for i in range(20)]
    assert segments[-1]["end_time"] == 20.0


def test_a_partial_last_second_gets_its_own_segment() -> None:
    segments = run(signals.white_noise(20.5, seed=1))
    assert len(segments) == 21
    assert segments[-1]["start_time"] == 20.0
    assert segments[-1]["end_time"] == 20.5
    # Even a tail shorter than one hop is a segment of its own.
    assert run(signals.white_noise(3.01, seed=1))[-1]["end_time"] == 3.01


def test_decoder_padding_past_the_last_second_is_not_a_segment() -> None:
    # A 25 s MP3 decodes to 25.000249 s: 11 samples of padding must not be a 26th second.
    audio = signals.white_noise(25.0, seed=1)
    padded = np.concatenate((audio, audio[:11]))
    segments = run(padded, block=65536)
    assert len(segments) == 25
    assert segments[-1]["end_time"] == 25.0
    # A lone short sound is still analysed.
    assert len(run(signals.white_noise(0.002, seed=1))) == 1


def test_first_segment_leaves_after_one_second_and_half_a_window() -> None:
    half_window = frame_length(SR) // 2
    audio = signals.white_noise(2.0, seed=2)
    analyzer = StreamingAnalyzer(SR)
    assert analyzer.push(audio[: SR - 1]) == []
    first = analyzer.push(audio[SR - 1 : SR + half_window])
    assert [s["start_time"] for s in first] == [0.0]


def test_block_size_does_not_change_the_segments() -> None:
    audio = music(12.0)
    reference = run(audio)
    rng = np.random.default_rng(3)
    analyzer = StreamingAnalyzer(SR)
    segments: list[dict[str, Any]] = []
    position = 0
    while position < len(audio):
        size = int(rng.integers(1, 3000))
        segments += analyzer.push(audio[position : position + size])
        position += size
    segments += analyzer.finish()
    assert len(segments) == len(reference)
    for ours, theirs in zip(segments, reference, strict=True):
        assert ours["emotion"]["primary"] == theirs["emotion"]["primary"]
        assert _numbers(ours) == pytest.approx(_numbers(theirs), abs=2e-3, rel=1e-3)


def _numbers(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [x for key in sorted(value) for x in _numbers(value[key])]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if value is None:
        return [-1.0]
    return []


LUFS_KEYS = ("lufs", "lufs_momentary", "lufs_short_term")


def test_stereo_is_mixed_to_mono() -> None:
    mono = signals.white_noise(3.0, seed=4)
    stereo = np.stack([mono, mono], axis=1)
    from_stereo, from_mono = run(stereo), run(mono)
    # Loudness follows BS.1770: channel powers add, so two identical channels read 3.01 LU
    # above one; everything else comes from the mono mix.
    for a, b in zip(from_stereo, from_mono, strict=True):
        for key in LUFS_KEYS:
            assert a.pop(key) == pytest.approx(b.pop(key) + 3.01, abs=0.011)
    assert from_stereo == from_mono


def test_segments_have_the_contract_keys_and_ranges() -> None:
    for segment in run(music(10.0)):
        assert set(segment) >= SEGMENT_KEYS
        json.dumps(segment, allow_nan=False)
        for group in ("frequencies", "brain_regions"):
            assert all(0.0 <= v <= 1.0 for v in segment[group].values())
        for key in ("loudness", "onset_strength", "beat_strength", "tempo_confidence"):
            assert 0.0 <= segment[key] <= 1.0
        waves = segment["brainwaves"]
        assert set(waves) == {"delta", "theta", "alpha", "beta", "gamma"}
        assert abs(sum(waves.values()) - 1.0) < 1e-6
        assert all(0.0 <= v <= 1.0 for v in waves.values())
        emotion = segment["emotion"]
        assert emotion["primary"] in EMOTIONS
        assert all(0.0 <= emotion[k] <= 1.0 for k in ("confidence", "valence", "arousal"))


@pytest.mark.parametrize("level", [0.0, 1e-5, 3e-4])
def test_silence_and_near_silence_give_zeros_and_nulls(level: float) -> None:
    audio = level * signals.white_noise(6.0, seed=5, rms=1.0)
    analyzer = StreamingAnalyzer(SR)
    segments = analyzer.push(audio) + analyzer.finish()
    for segment in segments:
        assert set(segment["frequencies"].values()) == {0.0}
        assert segment["loudness"] == 0.0
        assert segment["spectral_centroid"] == 0.0
        assert segment["tempo"] is None
        assert segment["tempo_confidence"] == segment["beat_strength"] == 0.0
        assert set(segment["brain_regions"].values()) == {0.0}
        assert abs(sum(segment["brainwaves"].values()) - 1.0) < 1e-6
        assert segment["loudness_db"] >= -120.0
    summary = analyzer.summary()
    assert summary["tempo"] == {"bpm": None, "confidence": 0.0}
    assert summary["key"] is None
    json.dumps({**summary, "segments": segments}, allow_nan=False)


def test_non_finite_samples_never_reach_the_json() -> None:
    audio = signals.white_noise(3.0, seed=6)
    audio[1000:2000] = np.nan
    audio[5000] = np.inf
    audio[9000] = 1e30
    analyzer = StreamingAnalyzer(SR)
    segments = analyzer.push(audio) + analyzer.finish()
    json.dumps({**analyzer.summary(), "segments": segments}, allow_nan=False)


def test_same_input_same_output() -> None:
    audio = music(8.0, seed=7)
    first, second = StreamingAnalyzer(SR), StreamingAnalyzer(SR)
    a = first.push(audio) + first.finish()
    b = second.push(audio) + second.finish()
    assert a == b
    assert first.summary() == second.summary()


def test_summary_shape() -> None:
    analyzer = StreamingAnalyzer(SR)
    segments = analyzer.push(music(12.5)) + analyzer.finish()
    summary = analyzer.summary()
    assert summary["duration"] == 12.5
    assert summary["segment_count"] == len(segments) == 13
    assert set(summary["tempo"]) == {"bpm", "confidence"}
    assert summary["key"] == "G" and summary["mode"] == "major"
    assert set(summary["emotion"]) == {"primary", "confidence", "valence", "arousal"}
    assert summary["sections"][0]["start"] == 0.0
    assert summary["sections"][-1]["end"] == 12.5
    assert -120.0 <= summary["lufs"] <= 0.0
    json.dumps(summary, allow_nan=False)


def test_refuses_bad_input() -> None:
    from audio_service.errors import DecodeError

    with pytest.raises(DecodeError):
        StreamingAnalyzer(1)
    with pytest.raises(ValueError):
        StreamingAnalyzer(SR).push(np.zeros((2, 2, 2)))
    analyzer = StreamingAnalyzer(SR)
    analyzer.finish()
    with pytest.raises(RuntimeError):
        analyzer.push(np.zeros(10))


def test_integer_pcm_is_scaled_to_full_scale() -> None:
    audio = signals.tone(440.0, 3.0, amplitude=0.5)
    pcm = np.round(audio * 32767).astype(np.int16)
    as_float = run(audio)
    as_int = run(pcm)  # type: ignore[arg-type]
    assert [s["loudness_db"] for s in as_int] == pytest.approx(
        [s["loudness_db"] for s in as_float], abs=0.01
    )

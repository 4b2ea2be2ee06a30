"""The key chroma: decimated low band, tuning, folding, and keys a short-frame chroma misses."""

from __future__ import annotations

import numpy as np
import pytest

from audio_service.analysis import StreamingAnalyzer, keychroma
from tests.support import signals


def analyzer_of(audio: np.ndarray) -> StreamingAnalyzer:
    analyzer = StreamingAnalyzer(signals.SR)
    # Odd block sizes: the low band is rebuilt across block boundaries.
    for start in range(0, len(audio), 40_001):
        analyzer.push(audio[start : start + 40_001])
    analyzer.finish()
    return analyzer


@pytest.mark.parametrize("freq", [65.41, 110.0, 220.0])
def test_a_low_tone_lands_in_its_pitch_class(freq: float) -> None:
    # 65.41 Hz is C2: three semitones span 12 Hz there, under one bin of the 46-ms frames.
    fine, times, tuning = analyzer_of(signals.tone(freq, 6.0)).key_chroma
    chroma = keychroma.fold(fine.sum(axis=0), tuning)
    expected = round(12 * np.log2(freq / 440.0) + 69) % 12
    assert int(np.argmax(chroma)) == expected
    assert chroma[expected] > 0.9 * chroma.sum()
    assert abs(tuning) < 0.05
    assert times[0] == pytest.approx(0.35, abs=0.05)
    assert np.all(np.diff(times) > 0)


def test_tuning_is_estimated_and_undone() -> None:
    # A major triad tuned 30 cents sharp (A4 = 447.7 Hz).
    sharp = 2 ** (0.3 / 12)
    notes = [signals.tone(f * sharp, 6.0, amplitude=0.2) for f in (220.0, 277.18, 329.63)]
    fine, _, tuning = analyzer_of(np.sum(notes, axis=0)).key_chroma
    assert tuning == pytest.approx(0.3, abs=0.05)
    chroma = keychroma.fold(fine.sum(axis=0), tuning)
    assert set(np.argsort(chroma)[-3:].tolist()) == {9, 1, 4}  # A, C#, E


def test_fold_without_tuning_sums_thirds_of_semitones() -> None:
    fine = np.zeros(36)
    fine[[0, 1, 35]] = 1.0  # C and a third of a semitone either side
    fine[21] = 2.0  # G
    assert keychroma.fold(fine, 0.0).tolist() == [3.0] + [0.0] * 6 + [2.0] + [0.0] * 4


@pytest.mark.parametrize(("key", "mode"), [("A#", "major"), ("C#", "minor"), ("G", "major")])
def test_song_key_of_low_voiced_progressions(key: str, mode: str) -> None:
    # The progression an octave lower than the key tests' (roots near 60-120 Hz).
    audio = signals.chord_progression(key, mode, repeats=3)
    lowered = np.interp(np.arange(0, len(audio), 0.5), np.arange(len(audio)), audio)
    summary = analyzer_of(lowered.astype(np.float32)).summary()
    assert (summary["key"], summary["mode"]) == (key, mode)

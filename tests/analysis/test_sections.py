"""Section boundaries and labels on a track made of distinct, repeated parts."""

from __future__ import annotations

import numpy as np
import pytest

from audio_service.analysis import StreamingAnalyzer
from tests.support import signals

PART_SECONDS = 12.0


def part_a() -> np.ndarray:
    """Soft C-major chords, one per second."""
    return signals.chord_progression("C", "major", repeats=int(PART_SECONDS // 4))


def part_b(seed: int) -> np.ndarray:
    """Drums, noise and fast F#-minor chords: a different timbre and key."""
    chords = signals.chord_progression(
        "F#", "minor", seconds_per_chord=0.5, repeats=int(PART_SECONDS // 2)
    )
    drums = signals.beat_track([(128.0, PART_SECONDS)], seed=seed)
    return 0.5 * chords + drums + 0.05 * signals.white_noise(PART_SECONDS, seed=seed)


def sections_of(audio: np.ndarray) -> list[dict[str, object]]:
    analyzer = StreamingAnalyzer(signals.SR)
    analyzer.push(audio)
    analyzer.finish()
    sections = analyzer.summary()["sections"]
    assert isinstance(sections, list)
    return sections


def test_abab_boundaries_within_two_seconds_and_repeated_labels() -> None:
    audio = np.concatenate([part_a(), part_b(1), part_a(), part_b(2)])
    sections = sections_of(audio)
    truth = [PART_SECONDS, 2 * PART_SECONDS, 3 * PART_SECONDS]
    found = [float(s["start"]) for s in sections[1:]]  # type: ignore[arg-type]
    assert len(found) == len(truth)
    for boundary, expected in zip(found, truth, strict=True):
        assert abs(boundary - expected) <= 2.0
    labels = [s["label"] for s in sections]
    assert labels[0] == labels[2] != labels[1] == labels[3]
    assert sections[0]["start"] == 0.0
    assert sections[-1]["end"] == 4 * PART_SECONDS


def test_intro_and_outro_around_a_repeated_part() -> None:
    intro = 0.3 * signals.white_noise(10.0, seed=5)
    outro = signals.tone(220.0, 10.0, amplitude=0.2)
    audio = np.concatenate([intro, part_b(1), part_a(), part_b(2), outro])
    labels = [s["label"] for s in sections_of(audio)]
    assert labels[0] == "intro"
    assert labels[-1] == "outro"
    assert labels[1] == labels[3]


def test_a_homogeneous_track_is_one_section() -> None:
    for audio in (signals.white_noise(30.0, seed=4), signals.beat_track([(120.0, 30.0)])):
        sections = sections_of(audio)
        assert len(sections) == 1
        assert sections[0]["end"] == 30.0


def strain(key: str, seed: int, seconds: int = 12) -> np.ndarray:
    """A passage of one chord a second, in an order of its own: varied inside, so that its
    repeat is recognisable as a repeat."""
    rng = np.random.default_rng(seed)
    chords = [
        signals.chord_progression(key, "major", repeats=1)[: signals.SR]
        if k == 0
        else signals.chord_progression(key, "major", repeats=1)[
            k * signals.SR : (k + 1) * signals.SR
        ]
        for k in rng.integers(0, 4, seconds)
    ]
    return np.concatenate(chords)


def test_repeated_strains_are_found_where_nothing_else_changes() -> None:
    # A A B B: the repeat of A (at 12 s) changes neither timbre nor key, only the
    # repetition structure does (Serra et al. 2014 structure features).
    a, b = strain("C", 1), 0.8 * strain("E", 2)
    sections = sections_of(np.concatenate([a, a, b, b]))
    found = [float(s["start"]) for s in sections[1:]]  # type: ignore[arg-type]
    for expected in (12.0, 24.0, 36.0):
        assert min(abs(f - expected) for f in found) <= 2.0, found
    assert len(found) <= 4


def test_sections_carry_tempo_key_and_loudness() -> None:
    audio = np.concatenate([part_b(1), part_b(2)])
    analyzer = StreamingAnalyzer(signals.SR)
    analyzer.push(audio)
    analyzer.finish()
    for section in analyzer.summary()["sections"]:
        assert section["tempo"] == pytest.approx(128.0, rel=0.03)
        # The tonic; the mode of 0.5-s chords under drums and noise is not this test's point.
        assert section["key"] == "F#"
        assert section["mode"] in ("major", "minor")
        assert -40.0 < section["lufs"] < 0.0

"""Song-level tempo, beats, bars and "no pulse" on generated drum loops and chords."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from audio_service.analysis import StreamingAnalyzer
from audio_service.analysis.beats import dp_beats
from tests.support import signals

#: Beat positions (in beats of a 4-beat bar) of two drum styles.
DRUM_AND_BASS = {"kick": [0, 2.5], "snare": [1, 3], "hat": [i / 2 for i in range(8)]}
POP = {"kick": [0, 2], "snare": [1, 3], "hat": [i / 2 for i in range(8)]}


def summary_of(audio: np.ndarray) -> Any:
    analyzer = StreamingAnalyzer(signals.SR)
    analyzer.push(audio)
    analyzer.finish()
    return analyzer.summary()


def grid(period: float, start: float, stop: float) -> np.ndarray:
    """Multiples of ``period`` within [start, stop] (the pieces start on a beat at 0)."""
    times = np.arange(0.0, stop + period, period)
    return times[(times >= start) & (times <= stop)]


def hit_rate(found: list[float], truth: np.ndarray, tolerance: float = 0.07) -> float:
    """Share of true beats with a found beat within ``tolerance`` seconds."""
    if not found:
        return 0.0
    found_array = np.asarray(found)
    return float(np.mean([np.min(np.abs(found_array - t)) <= tolerance for t in truth]))


@pytest.mark.parametrize(("pattern", "bpm"), [(DRUM_AND_BASS, 172.0), (POP, 100.0)])
def test_the_beat_level_follows_the_drums_not_a_prior(
    pattern: dict[str, list[float]], bpm: float
) -> None:
    # Drum and bass at 172 has its backbeat on every other beat, pop at 100 hi-hat quavers
    # between its beats: a prior centred on 120 BPM would call the first 86 and may call
    # the second 200.
    summary = summary_of(signals.drum_pattern(bpm, 30.0, pattern))
    assert summary["tempo"]["bpm"] == pytest.approx(bpm, rel=0.02)
    assert summary["tempo"]["confidence"] > 0.5
    truth = grid(60.0 / bpm, 2.0, 28.0)
    assert hit_rate(summary["beats"], truth) >= 0.9


def test_legato_chords_without_percussion_give_their_tempo() -> None:
    summary = summary_of(signals.legato_chords("G", 72.0, 40.0))
    assert summary["tempo"]["bpm"] == pytest.approx(72.0, rel=0.02)
    assert hit_rate(summary["beats"], grid(60.0 / 72.0, 2.0, 38.0)) >= 0.9
    assert (summary["key"], summary["mode"]) == ("G", "major")


def test_chords_changing_every_bar_mark_the_downbeats() -> None:
    # A snare on every beat, the same on each; only the harmony tells where bars start.
    pulse = signals.drum_pattern(120.0, 32.0, {"snare": [0, 1, 2, 3]})
    summary = summary_of(pulse + signals.legato_chords("C", 120.0, 32.0, beats_per_chord=4))
    assert summary["time_signature"] == 4
    bars = grid(2.0, 2.0, 30.0)
    assert hit_rate(summary["downbeats"], bars) >= 0.9


def test_a_tempo_change_gives_the_dominant_tempo_and_a_curve() -> None:
    audio = np.concatenate(
        [signals.beat_track([(120.0, 24.0)]), signals.beat_track([(90.0, 16.0)])]
    )
    summary = summary_of(audio)
    assert summary["tempo"]["bpm"] == pytest.approx(120.0, rel=0.02)  # not 60, not 30
    curve = summary["tempo_curve"]
    early = [p["bpm"] for p in curve if 4 <= p["time"] <= 20]
    late = [p["bpm"] for p in curve if 28 <= p["time"] <= 38]
    assert early and late
    assert np.median(early) == pytest.approx(120.0, rel=0.03)
    assert np.median(late) == pytest.approx(90.0, rel=0.03)


@pytest.mark.parametrize(
    "audio",
    [
        signals.white_noise(30.0, seed=1),
        signals.pink_noise(30.0, seed=2),
        signals.tone(440.0, 30.0),
    ],
    ids=["white-noise", "pink-noise", "sine"],
)
def test_no_pulse_no_tempo_no_key(audio: np.ndarray) -> None:
    summary = summary_of(audio)
    assert summary["tempo"]["bpm"] is None
    assert summary["tempo"]["confidence"] < 0.3
    assert summary["beats"] == []
    assert summary["time_signature"] is None
    assert summary["key"] is None or summary["key_confidence"] < 0.3
    assert summary["music_likelihood"] < 0.3


def test_music_is_likelier_music_than_noise() -> None:
    music = summary_of(
        signals.drum_pattern(100.0, 20.0, POP) + signals.legato_chords("D", 100.0, 20.0)
    )
    assert music["music_likelihood"] > 0.6


def test_dynamic_programming_finds_a_jittered_pulse() -> None:
    rng = np.random.default_rng(0)
    period = 21.5
    truth = np.round(np.arange(10, 2000, period) + rng.normal(0, 1.0, 93)).astype(int)
    envelope = 0.1 * rng.random(2000)
    envelope[truth] += 1.0
    found = dp_beats(envelope, np.full(2000, period))
    assert len(found) == len(truth)
    assert np.max(np.abs(found - truth)) <= 1

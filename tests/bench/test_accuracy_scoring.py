"""The accuracy benchmark's truth and scoring: the figures everyone reads must be right."""

from __future__ import annotations

import numpy as np
import pytest
from bench.accuracy.music import Section, Song
from bench.accuracy.score import (
    beat_f,
    boundary_f,
    curve_accuracy,
    key_score,
    meter_correct,
    score_piece,
    tempo_accuracy,
)


@pytest.mark.parametrize(
    ("estimate", "expected"),
    [
        (120.0, (1, 1)),
        (124.0, (1, 1)),
        (125.5, (0, 0)),
        (240.0, (0, 1)),
        (60.0, (0, 1)),
        (40.0, (0, 1)),
        (360.0, (0, 1)),
        (180.0, (0, 0)),
        (None, (0, 0)),
    ],
)
def test_tempo_acc1_and_acc2(estimate: float | None, expected: tuple[int, int]) -> None:
    assert tempo_accuracy(120.0, estimate) == expected


def test_meter_accepts_dotted_beats_for_compound_only() -> None:
    assert meter_correct(6, 6) == meter_correct(6, 2) == meter_correct(12, 4) == 1.0
    assert meter_correct(6, 3) == meter_correct(4, 2) == meter_correct(3, None) == 0.0


def test_key_uses_mirex_weights() -> None:
    assert key_score("C", "major", "C", "major") == 1.0
    assert key_score("C", "major", "G", "major") == 0.5
    assert key_score("C", "major", "A", "minor") == 0.3
    assert key_score("C", "major", "C", "minor") == 0.2
    assert key_score("C", "major", None, None) == 0.0


def test_beat_f_tolerance_is_70_ms() -> None:
    beats = list(np.arange(0, 30, 0.5))
    assert beat_f(beats, beats) == 1.0
    assert beat_f(beats, [b + 0.06 for b in beats]) == 1.0
    assert beat_f(beats, [b + 0.1 for b in beats]) == 0.0
    assert beat_f(beats, None) == beat_f(beats, []) == 0.0


def test_boundary_f_trims_start_and_end() -> None:
    assert boundary_f([10.0, 20.0], [10.2, 20.4], 40.0, 0.5) == 1.0
    # One hit out of two on each side; the song's own start and end count for nothing.
    assert boundary_f([10.0, 20.0], [10.2, 30.0], 40.0, 0.5) == pytest.approx(0.5)
    assert boundary_f([10.0, 20.0], [12.5, 30.0], 40.0, 3.0) == pytest.approx(0.5)
    assert boundary_f([10.0], [], 40.0, 3.0) == 0.0


def test_tempo_curve_is_scored_per_beat_and_skips_silence() -> None:
    beats = [*np.arange(0, 10, 0.5), *np.arange(10, 20, 2 / 3)]
    truth = {"beats": beats, "silences": []}
    assert curve_accuracy(truth, {"tempo_curve": [(0.0, 120.0), (10.0, 90.0)]}) == 1.0
    flat = curve_accuracy(truth, {"tempo": 120.0})
    assert flat == pytest.approx(20 / (len(beats) - 1))
    gap = {"beats": [0.0, 0.5, 1.0, 5.0, 5.5], "silences": [[1.2, 5.0]]}
    assert curve_accuracy(gap, {"tempo": 120.0}) == 1.0


def test_a_control_passes_only_by_abstaining() -> None:
    control = {"music": False}
    assert score_piece(control, {"tempo": None, "key": "A", "key_confidence": 0.1}) == {
        "control": 1.0
    }
    assert score_piece(control, {"tempo": 120.0, "tempo_confidence": None})["control"] == 0.0
    assert score_piece(control, {"tempo": None, "key": "A", "key_confidence": None}) == {
        "control": 0.0
    }


def test_song_truth_follows_tempo_changes_ritardando_and_silence() -> None:
    form = [
        Section("A", 2, 120.0),
        Section("silence", 1, 120.0, silent=True),
        Section("B", 2, 60.0),
        Section("B", 1, 60.0, 30.0, boundary=False),
    ]
    song = Song(form, "D", "minor", 4, 4, seed=1)
    truth = song.truth()
    # Two bars at 0.5 s a beat, one silent bar (2 s), two bars at 1 s, one slowing bar.
    assert song.grid[8] == pytest.approx(4.0)
    assert song.grid[12] == pytest.approx(6.0)
    assert song.grid[20] == pytest.approx(14.0)
    assert np.all(np.diff(song.grid[20:]) > 1.0)
    assert truth["boundaries"] == pytest.approx([4.0, 6.0])
    assert truth["silences"] == [pytest.approx([4.0, 6.0])]
    assert not any(4.0 <= b < 6.0 for b in truth["beats"])
    assert truth["downbeats"][:3] == pytest.approx([0.0, 2.0, 6.0])
    # 60 BPM fills most of the time, so it is the dominant tempo.
    assert truth["tempo"] == pytest.approx(60.0)
    assert (truth["key"], truth["mode"], truth["meter"]) == ("D", "minor", 4)
    assert song.chord(4) == [song.tonic + 7, song.tonic + 11, song.tonic + 14]

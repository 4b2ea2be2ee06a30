"""Scores of one estimate against one truth, with mir_eval, and their means per class.

An estimate is a plain dict (see :func:`bench.accuracy.implementations.normalise`): ``tempo``
(BPM or None), ``tempo_confidence``, ``beats``, ``downbeats``, ``meter``, ``key``, ``mode``,
``key_confidence``, ``boundaries`` (internal section starts, s). A key the analyser does not
report (None) scores 0 where the truth has something to score, never an exception.
"""

from __future__ import annotations

import itertools
from typing import Any

import mir_eval
import numpy as np

#: Tempo tolerance (relative) and the metrical factors Acc2 forgives.
TEMPO_TOLERANCE = 0.04
OCTAVE_FACTORS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
BOUNDARY_WINDOWS = (0.5, 3.0)
#: Below this confidence a tempo or key counts as "I don't know" on a control.
CONTROL_CONFIDENCE = 0.3

#: Metric key -> label, in table order.
METRICS = {
    "acc1": "Tempo Acc1 (4 %)",
    "acc2": "Tempo Acc2 (4 %, x2 x1/2 x3 x1/3)",
    "curve": "Tempo curve within 4 % (share of beats)",
    "beat_f": "Beat F-measure (+-70 ms)",
    "downbeat_f": "Downbeat F-measure (+-70 ms)",
    "meter": "Time signature accuracy",
    "key": "Key, MIREX weighted",
    "bound_f05": "Boundary F @ 0.5 s",
    "bound_f3": "Boundary F @ 3 s",
    "control": "Controls: no tempo and no key",
    "music_id": "Music likelihood on the right side of 0.5 (all pieces)",
    "lufs": "Integrated LUFS within 0.1 LU of pyloudnorm (all pieces)",
}
TARGETS = {"acc1": 0.90, "acc2": 0.97, "beat_f": 0.85, "key": 0.95, "bound_f3": 0.70}
TARGETS |= {"control": 1.0, "lufs": 1.0}
LUFS_TOLERANCE = 0.1


def tempo_accuracy(reference: float, estimate: float | None) -> tuple[float, float]:
    """(Acc1, Acc2) of one song-level tempo: 1.0 within 4 % (of a metrical multiple)."""
    if estimate is None or estimate <= 0:
        return 0.0, 0.0

    def near(factor: float) -> bool:
        return abs(estimate - factor * reference) <= TEMPO_TOLERANCE * factor * reference

    return float(near(1.0)), float(any(near(f) for f in OCTAVE_FACTORS))


def beat_f(reference: list[float], estimate: list[float] | None) -> float:
    """mir_eval's beat F-measure (+-70 ms) after its standard 5-second trim."""
    ref = mir_eval.beat.trim_beats(np.asarray(reference, dtype=float))
    est = mir_eval.beat.trim_beats(np.asarray(estimate or [], dtype=float))
    if len(ref) == 0 or len(est) == 0:
        return 0.0
    return float(mir_eval.beat.f_measure(ref, est, f_measure_threshold=0.07))


def curve_accuracy(truth: dict[str, Any], est: dict[str, Any]) -> float:
    """Share of beat periods whose tempo the estimate's curve gives within 4 %.

    The curve is read as a step function; without one, the song tempo stands for the whole
    song (what a user of a single-tempo analyser has). Periods spanning a silence are skipped.
    """
    beats = np.asarray(truth["beats"], dtype=float)
    starts, periods = beats[:-1], np.diff(beats)
    keep = np.array(
        [
            not any(a < t + p - 1e-6 and t < b for a, b in truth.get("silences", []))
            for t, p in zip(starts, periods, strict=True)
        ],
        dtype=bool,
    )
    if not keep.any():
        return 0.0
    local = 60.0 / periods[keep]
    curve = est.get("tempo_curve") or []
    if curve:
        times = np.array([t for t, _ in curve])
        bpms = np.array([b for _, b in curve], dtype=float)
        estimate = bpms[np.clip(np.searchsorted(times, starts[keep], "right") - 1, 0, None)]
    elif est.get("tempo"):
        estimate = np.full(len(local), float(est["tempo"]))
    else:
        return 0.0
    return float(np.mean(np.abs(estimate - local) <= TEMPO_TOLERANCE * local))


def meter_correct(reference: int, estimate: int | None) -> float:
    """Beats per bar as notated; a compound meter may be counted in dotted beats (6/8 as 2)."""
    if estimate is None:
        return 0.0
    accepted = {reference} | ({reference // 3} if reference in (6, 9, 12) else set())
    return float(estimate in accepted)


def key_score(key: str, mode: str, est_key: str | None, est_mode: str | None) -> float:
    """MIREX-weighted key score (1, 0.5 a fifth above, 0.3 relative, 0.2 parallel, else 0)."""
    if est_key is None or est_mode not in ("major", "minor"):
        return 0.0
    return float(mir_eval.key.weighted_score(f"{key} {mode}", f"{est_key} {est_mode}"))


def boundary_f(
    reference: list[float], estimate: list[float] | None, duration: float, window: float
) -> float:
    """mir_eval hit-rate F-measure of internal boundaries (start and end trimmed)."""
    est = sorted(b for b in (estimate or []) if 0 < b < duration)
    if not est:
        return 0.0

    def intervals(bounds: list[float]) -> np.ndarray:
        edges = [0.0, *bounds, duration]
        return np.array(list(itertools.pairwise(edges)))

    _, _, f = mir_eval.segment.detection(
        intervals(reference), intervals(est), window=window, trim=True
    )
    return float(f)


def quiet(confidence: float | None, value: object) -> bool:
    return value is None or (confidence is not None and confidence < CONTROL_CONFIDENCE)


def score_piece(truth: dict[str, Any], est: dict[str, Any]) -> dict[str, float]:
    """Every metric that applies to this piece (music or control)."""
    common: dict[str, float] = {}
    if est.get("music_likelihood") is not None:
        common["music_id"] = float((est["music_likelihood"] >= 0.5) == truth["music"])
    if est.get("lufs") is not None and truth.get("lufs_reference") is not None:
        error = abs(float(est["lufs"]) - truth["lufs_reference"])
        common["lufs"] = float(error <= LUFS_TOLERANCE)
    if not truth["music"]:
        no_tempo = quiet(est.get("tempo_confidence"), est.get("tempo"))
        no_key = quiet(est.get("key_confidence"), est.get("key"))
        return common | {"control": float(no_tempo and no_key)}
    acc1, acc2 = tempo_accuracy(truth["tempo"], est.get("tempo"))
    out = common | {"acc1": acc1, "acc2": acc2, "curve": curve_accuracy(truth, est)}
    out["beat_f"] = beat_f(truth["beats"], est.get("beats"))
    out["downbeat_f"] = beat_f(truth["downbeats"], est.get("downbeats"))
    out["meter"] = meter_correct(truth["meter"], est.get("meter"))
    out["key"] = key_score(truth["key"], truth["mode"], est.get("key"), est.get("mode"))
    if truth["boundaries"]:
        for window, name in zip(BOUNDARY_WINDOWS, ("bound_f05", "bound_f3"), strict=True):
            out[name] = boundary_f(
                truth["boundaries"], est.get("boundaries"), truth["duration"], window
            )
    return out


def aggregate(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over the rows that have it."""
    names = {name for row in rows for name in row}
    return {name: float(np.mean([row[name] for row in rows if name in row])) for name in names}

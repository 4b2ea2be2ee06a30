"""Bars: which beats are downbeats, and how many beats a bar holds.

Harmony tends to change at the start of a bar, bass notes and the strongest accents fall on
it (Goto 2001 uses chord changes and bass onsets; Klapuri et al. 2006 accent at bar
positions). Every grouping of 2, 3 or 4 beats and every phase of it is scored by how much
more of that evidence the beats it calls downbeats carry than the others; the best grouping
gives the time signature, its phase the downbeats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audio_service.analysis import onsets

GROUPINGS = (2, 3, 4)
#: Weights of harmonic change, bass onset and accent in the downbeat evidence.
EVIDENCE_WEIGHTS = (1.0, 0.6, 0.4)
#: Minimum beats before a bar grouping is decided (two bars of the longest grouping).
MIN_BEATS = 8
#: Tie-break towards 4 beats (the commonest bar): contrast it may lack and still win.
FOUR_BIAS = 0.05


@dataclass(frozen=True)
class Meter:
    beats_per_bar: int | None
    downbeats: np.ndarray  #: (n_downbeats,) indices into the beats
    contrast: float  #: evidence at downbeats minus elsewhere (z units), >= 0


def _zscore(x: np.ndarray) -> np.ndarray:
    std = float(x.std())
    if std <= 1e-12:
        return np.zeros(len(x))
    out: np.ndarray = (x - x.mean()) / std
    return out


def beat_evidence(beats: np.ndarray, log: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    """Downbeat evidence of each beat: harmonic change, bass onset, accent (z-scored sum).

    Parameters
    ----------
    beats : np.ndarray, shape (n_beats,)
        Beat frames, ascending.
    log : np.ndarray, shape (n_frames, N_LOG_COLUMNS)
        ``onsets.frame_log`` rows of the track.
    envelope : np.ndarray, shape (n_frames,)
        Onset envelope the beats were tracked on.

    Returns
    -------
    np.ndarray, shape (n_beats,)
    """
    n = len(log)
    bounds = np.append(beats, n)
    # Mean chroma over each beat, unit length: its change from the previous beat.
    cumulative = np.vstack([np.zeros(12), np.cumsum(log[:, onsets.CHROMA], axis=0)])
    sums = cumulative[bounds[1:]] - cumulative[bounds[:-1]]
    unit = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    change = np.ones(len(beats))
    change[1:] = 1.0 - np.sum(unit[1:] * unit[:-1], axis=1)
    change[0] = change[1:].mean() if len(beats) > 1 else 0.0
    near = np.clip(beats[:, None] + np.arange(-2, 3)[None, :], 0, n - 1)
    bass = log[near, onsets.BASS].max(axis=1)
    accent = envelope[near].max(axis=1)
    w_change, w_bass, w_accent = EVIDENCE_WEIGHTS
    out: np.ndarray = (
        w_change * _zscore(change) + w_bass * _zscore(bass) + w_accent * _zscore(accent)
    )
    return out


def find_meter(evidence: np.ndarray) -> Meter:
    """Best grouping of beats into bars, and its downbeats.

    Parameters
    ----------
    evidence : np.ndarray, shape (n_beats,)
        :func:`beat_evidence` of the beats.
    """
    n = len(evidence)
    if n < MIN_BEATS:
        return Meter(beats_per_bar=None, downbeats=np.zeros(0, dtype=np.int64), contrast=0.0)
    best: tuple[float, int, int] = (-np.inf, 4, 0)
    positions = np.arange(n)
    for group in GROUPINGS:
        for phase in range(group):
            on = positions % group == phase
            contrast = float(evidence[on].mean() - evidence[~on].mean())
            score = contrast + (FOUR_BIAS if group == 4 else 0.0)
            if score > best[0]:
                best = (score, group, phase)
    _, group, phase = best
    on = positions % group == phase
    contrast = max(0.0, float(evidence[on].mean() - evidence[~on].mean()))
    return Meter(beats_per_bar=group, downbeats=positions[on], contrast=contrast)

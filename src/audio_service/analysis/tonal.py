"""Key and mode from chroma by Krumhansl-Schmuckler profile correlation.

The probe-tone profiles are those of Krumhansl & Kessler (1982), as used in the
Krumhansl-Schmuckler key-finding algorithm (Krumhansl 1990): the key whose rotated profile
correlates best with the pitch-class distribution wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _rotations(profile: np.ndarray) -> np.ndarray:
    """(12, 12) z-scored profiles, row k for tonic k."""
    rows = np.stack([np.roll(profile, k) for k in range(12)])
    rows = rows - rows.mean(axis=1, keepdims=True)
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True))


#: Rows 0-11: major keys C..B; rows 12-23: minor keys C..B.
KEY_TEMPLATES = np.vstack([_rotations(MAJOR_PROFILE), _rotations(MINOR_PROFILE)])


@dataclass(frozen=True)
class KeyEstimate:
    key: str | None  #: tonic pitch class, e.g. "A"; None without tonal content
    mode: str | None  #: "major" or "minor"
    confidence: float  #: 0..1
    #: 0..1, 1 when the best major key fits much better than the best minor key.
    majorness: float
    #: Best profile correlation clipped to 0..1 ("key clarity", tonal stability).
    clarity: float


NO_KEY = KeyEstimate(key=None, mode=None, confidence=0.0, majorness=0.5, clarity=0.0)


def key_correlations(chroma: np.ndarray) -> np.ndarray:
    """Pearson correlation of a chroma vector with the 24 key profiles.

    Parameters
    ----------
    chroma : np.ndarray, shape (12,)
        Energy per pitch class, C first.

    Returns
    -------
    np.ndarray, shape (24,)
        Major keys C..B, then minor keys C..B; all zeros for a flat chroma.
    """
    x = np.asarray(chroma, dtype=np.float64)
    x = x - x.sum() / 12
    norm = float(np.linalg.norm(x))
    if norm <= 1e-12:
        return np.zeros(24)
    return np.asarray(KEY_TEMPLATES @ (x / norm))


def estimate_key(chroma: np.ndarray) -> KeyEstimate:
    """Key, mode and confidences of a chroma vector (see :func:`key_correlations`)."""
    scores: list[float] = key_correlations(chroma).tolist()
    best = max(range(24), key=scores.__getitem__)
    top = scores[best]
    if top == 0.0:
        return NO_KEY
    runner_up = max(scores[:best] + scores[best + 1 :])
    # Confidence grows with the margin over the runner-up (often the relative key) and with
    # the fit itself; a margin of 0.2 correlation is already a clear decision.
    confidence = min(1.0, max(0.0, top)) * min(1.0, max(0.0, (top - runner_up) / 0.2))
    major, minor = max(scores[:12]), max(scores[12:])
    return KeyEstimate(
        key=PITCH_CLASSES[best % 12],
        mode="major" if best < 12 else "minor",
        confidence=confidence,
        majorness=min(1.0, max(0.0, 0.5 + (major - minor) / 0.4)),
        clarity=min(1.0, max(0.0, top)),
    )

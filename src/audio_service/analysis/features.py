"""Scales and per-second measurements shared by the analyzer and the song summary.

Every 0..1 value derived from a level uses one documented scale: ``(dB + 60) / 60`` clipped,
so -60 dBFS and below reads 0 and full scale reads 1 (docs/ANALYSIS.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Reported level of digital silence, dB (instead of -inf).
DB_FLOOR = -120.0
#: Width of the 0..1 level scale, dB: the scale maps -60..0 dBFS onto 0..1.
SCALE_RANGE_DB = 60.0
#: A second quieter than this (RMS, dBFS) counts as silent: no tempo, no indices.
SILENCE_DB = -60.0
#: Onset flux (mean rise of log-mel energy per frame, dB) that maps to 1 - 1/e on 0..1.
ONSET_SCALE_DB = 2.0
#: Mel-dB change between consecutive seconds (mean over bands) that counts as full novelty.
NOVELTY_SCALE_DB = 12.0
#: A second this much louder than the mean of the preceding seconds is a full "peak".
PEAK_SCALE_DB = 10.0

#: Mean-square power of ``DB_FLOOR``.
POWER_FLOOR = 10 ** (DB_FLOOR / 10)


def to_db(power: float) -> float:
    """Mean-square power (full scale = 1) in dB, floored at ``DB_FLOOR``."""
    return 10.0 * math.log10(max(float(power), POWER_FLOOR))


def level_scale(db: float) -> float:
    """A level in dB on the 0..1 scale: -60 dB -> 0, 0 dB -> 1."""
    return min(1.0, max(0.0, (db + SCALE_RANGE_DB) / SCALE_RANGE_DB))


def brightness(centroid_hz: float) -> float:
    """Spectral centroid on a log scale: 250 Hz -> 0, 8 kHz -> 1."""
    if centroid_hz <= 250.0:
        return 0.0
    return min(1.0, math.log2(centroid_hz / 250.0) / 5.0)


def onset_scale(flux_db: float) -> float:
    """Mean onset flux (dB per frame) on 0..1, saturating smoothly."""
    return 1.0 - math.exp(-max(0.0, flux_db) / ONSET_SCALE_DB)


def flatness(power: np.ndarray, power_db: np.ndarray) -> float:
    """Spectral flatness (geometric over arithmetic mean), 0 tonal .. 1 white-noise-like.

    Parameters
    ----------
    power : np.ndarray, shape (n_bands,)
        Band powers, e.g. a mel spectrum.
    power_db : np.ndarray, shape (n_bands,)
        The same in dB (already at hand; the geometric mean is the mean in dB).
    """
    n = len(power)
    arithmetic = float(power.sum()) / n
    if arithmetic <= POWER_FLOOR:
        return 0.0
    return min(1.0, 10 ** (float(power_db.sum()) / n / 10) / arithmetic)


def novelty(mel_db: np.ndarray, previous: np.ndarray | None) -> float:
    """Spectral change between two seconds' mel-dB spectra, 0..1."""
    if previous is None:
        return 0.0
    change = float(np.abs(mel_db - previous).sum()) / len(mel_db)
    return min(1.0, change / NOVELTY_SCALE_DB)


def peak(loudness_db: float, preceding_db: list[float]) -> float:
    """How far a second's loudness rises above the mean of the preceding seconds, 0..1."""
    if not preceding_db:
        return 0.0
    rise = loudness_db - sum(preceding_db) / len(preceding_db)
    return min(1.0, max(0.0, rise / PEAK_SCALE_DB))


def rounded(values: dict[str, Any], digits: int = 4) -> dict[str, Any]:
    """Copy of a flat dict with its floats rounded, for compact JSON."""
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in values.items()}


def rounded_shares(shares: dict[str, float], digits: int = 6) -> dict[str, float]:
    """Round shares that sum to 1 so that the rounded values still sum to 1.

    The rounding residue goes to the largest share, which keeps it non-negative.
    """
    out = {name: round(value, digits) for name, value in shares.items()}
    largest = max(out, key=out.__getitem__)
    out[largest] = 1.0 - (sum(out.values()) - out[largest])
    return out

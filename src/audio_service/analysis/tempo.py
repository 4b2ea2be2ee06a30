"""Tempo from an onset envelope: autocorrelation, a tempo prior, sub-lag refinement.

Whole-lag autocorrelation quantises tempo badly (at 43 frames/s a lag step near 120 BPM is
about 5 BPM), so the chosen peak is located by parabolic interpolation and then refined by
the peaks at 2, 3, ... times its lag, whose positions pin the period down k times more finely.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

#: Tempo range of a reported beat, BPM (per second and for the song).
MIN_BPM = 40.0
MAX_BPM = 240.0
#: Log-normal prior over tempo (centre, width in octaves) that picks between octave-related
#: periods, as in Ellis (2007) and librosa's default.
PRIOR_BPM = 120.0
PRIOR_OCTAVES = 1.0


@dataclass(frozen=True)
class TempoEstimate:
    """A tempo reading: ``bpm`` is None when the envelope holds no periodicity."""

    bpm: float | None
    #: Peak prominence of the autocorrelation at the beat lag, 0..1.
    confidence: float
    #: Normalised autocorrelation at the beat lag ("pulse clarity"), 0..1.
    clarity: float


NO_TEMPO = TempoEstimate(bpm=None, confidence=0.0, clarity=0.0)


def _parabolic(values: list[float], index: int) -> tuple[float, float]:
    """Vertex (position, height) of the parabola through ``values[index - 1 : index + 2]``."""
    left, centre, right = values[index - 1], values[index], values[index + 1]
    curvature = left - 2 * centre + right
    if curvature >= 0:
        return float(index), centre
    shift = 0.5 * (left - right) / curvature
    return index + shift, centre - 0.25 * (left - right) * shift


@lru_cache(maxsize=64)
def _lag_grid(n: int, frame_rate: float) -> tuple[int, int, np.ndarray]:
    """Lag range [lo, hi] (frames) and the tempo prior over it, for an n-frame envelope."""
    lo = max(3, int(np.floor(frame_rate * 60.0 / MAX_BPM)))
    hi = min(int(np.ceil(frame_rate * 60.0 / MIN_BPM)), n // 2)
    bpm = 60.0 * frame_rate / np.arange(lo, hi + 1)
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    return lo, hi, prior


def autocorrelation(envelope: np.ndarray) -> np.ndarray:
    """Biased autocorrelation of the mean-removed envelope, normalised to 1 at lag 0.

    Parameters
    ----------
    envelope : np.ndarray, shape (n,)
        Onset strength per frame.

    Returns
    -------
    np.ndarray, shape (n,), float64
        All zeros when the envelope is constant.
    """
    x = np.asarray(envelope, dtype=np.float64)
    x = x - x.sum() / len(x)
    size = scipy.fft.next_fast_len(2 * len(x), real=True)
    # numpy's FFT: on one short vector its lower call overhead beats scipy.fft (measured
    # 23 vs 39 us for an 8-s envelope); scipy.fft wins on the batched frames of the STFT.
    power = np.abs(np.fft.rfft(x, size))
    power *= power
    acf = np.fft.irfft(power, size)[: len(x)]
    if acf[0] <= 1e-12 * len(x):
        return np.zeros(len(x))
    return np.asarray(acf / acf[0])


def estimate_tempo(envelope: np.ndarray, *, frame_rate: float, harmonics: int = 4) -> TempoEstimate:
    """Estimate the beat rate of an onset envelope.

    Parameters
    ----------
    envelope : np.ndarray, shape (n,)
        Onset strength per frame (e.g. log-mel spectral flux).
    frame_rate : float
        Envelope frames per second (Hz).
    harmonics : int
        Number of lag multiples (1 = the beat lag alone) used to refine the period.

    Returns
    -------
    TempoEstimate
        ``NO_TEMPO`` when the envelope is too short for two periods of the slowest tempo
        or has no periodic component.
    """
    n = len(envelope)
    lo, hi, prior = _lag_grid(n, frame_rate)
    if hi - lo < 3:
        return NO_TEMPO
    acf = autocorrelation(envelope)
    # Onsets are quantised to frames, so a period between two lags splits its peak over
    # both while a multiple of it may fall on one lag: score peaks by their mass over three
    # lags, not by their height.
    mass = acf[lo - 2 : hi + 1] + acf[lo - 1 : hi + 2] + acf[lo : hi + 3]
    inner = mass[1:-1]
    is_peak = (inner > mass[:-2]) & (inner >= mass[2:]) & (inner > 0)
    if not is_peak.any():
        return NO_TEMPO
    centre = lo + int(np.argmax(np.where(is_peak, inner * prior, -np.inf)))
    best = centre - 1 + int(np.argmax(acf[centre - 1 : centre + 2]))
    values: list[float] = acf.tolist()
    period, height = _parabolic(values, best)

    # Refine with the peaks near k * period: each one locates the period k times better.
    weighted, norm = period, 1.0
    for k in range(2, harmonics + 1):
        guess = round(k * period)
        if guess + 2 >= n - n // 4:
            break
        j = max((guess - 1, guess, guess + 1), key=values.__getitem__)
        if not values[j - 1] < values[j] >= values[j + 1] or values[j] <= 0:
            break
        weighted += k * _parabolic(values, j)[0]
        norm += k * k
    period = weighted / norm

    clarity = min(1.0, max(0.0, height))
    baseline = max(float(acf[lo : hi + 1].sum()) / (hi + 1 - lo), 0.0)
    confidence = min(1.0, max(0.0, (clarity - baseline) / (1.0 - baseline + 1e-9)))
    return TempoEstimate(bpm=60.0 * frame_rate / period, confidence=confidence, clarity=clarity)

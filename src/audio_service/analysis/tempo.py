"""Tempo from an onset envelope: autocorrelation, a tempo prior, sub-lag refinement.

Whole-lag autocorrelation quantises tempo badly (at 43 frames/s a lag step near 120 BPM is
about 5 BPM), so the chosen peak is located by parabolic interpolation and then refined by
the peaks at 2, 3, ... times its lag, whose positions pin the period down k times more finely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

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


def _parabolic(values: np.ndarray, index: int) -> tuple[float, float]:
    """Vertex (position, height) of the parabola through ``values[index - 1 : index + 2]``."""
    left, centre, right = values[index - 1], values[index], values[index + 1]
    curvature = left - 2 * centre + right
    if curvature >= 0:
        return float(index), float(centre)
    shift = 0.5 * (left - right) / curvature
    return index + float(shift), float(centre - 0.25 * (left - right) * shift)


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
    x = x - x.mean()
    size = scipy.fft.next_fast_len(2 * len(x), real=True)
    spectrum = scipy.fft.rfft(x, size)
    acf = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, size)[: len(x)]
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
    acf = autocorrelation(envelope)
    n = len(acf)
    lo = max(2, int(np.floor(frame_rate * 60.0 / MAX_BPM)))
    hi = min(int(np.ceil(frame_rate * 60.0 / MIN_BPM)), n // 2)
    if hi - lo < 3 or not acf.any():
        return NO_TEMPO
    lags = np.arange(lo, hi + 1)
    inner = acf[lags]
    is_peak = (inner > acf[lags - 1]) & (inner >= acf[lags + 1]) & (inner > 0)
    if not is_peak.any():
        return NO_TEMPO
    bpm = 60.0 * frame_rate / lags
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    score = np.where(is_peak, inner * prior, -np.inf)
    best = int(lags[int(np.argmax(score))])
    period, height = _parabolic(acf, best)

    # Refine with the peaks near k * period: each one locates the period k times better.
    positions, multiples = [period], [1.0]
    for k in range(2, harmonics + 1):
        guess = round(k * period)
        if guess + 2 >= n - n // 4:
            break
        j = guess - 1 + int(np.argmax(acf[guess - 1 : guess + 2]))
        if not acf[j - 1] < acf[j] >= acf[j + 1] or acf[j] <= 0:
            break
        positions.append(_parabolic(acf, j)[0])
        multiples.append(float(k))
    ks = np.array(multiples)
    period = float(np.dot(ks, positions) / np.dot(ks, ks))

    clarity = float(np.clip(height, 0.0, 1.0))
    baseline = max(float(np.mean(inner)), 0.0)
    confidence = float(np.clip((clarity - baseline) / (1.0 - baseline + 1e-9), 0.0, 1.0))
    return TempoEstimate(bpm=60.0 * frame_rate / period, confidence=confidence, clarity=clarity)

"""Onset envelopes per STFT frame: percussive, harmonic-change and bass onsets.

A log-mel spectral flux (the mean rise of band levels in dB) marks attacks: drums, plucked
and struck notes. Legato music (organ, strings, choirs) has few attacks but its harmony
changes on the beat, which a flux over the 12 chroma classes shows (new pitch classes rise
by tens of dB while held ones stay put: the "chroma flux" of harmonic-change detection,
Harte et al. 2006; Bello et al. 2005 compare such features). A flux of the 20-250 Hz band
level marks bass notes and kicks, which fall on strong beats. All three are rises of log
levels, so they are in dB and blind to the overall gain.
"""

from __future__ import annotations

import numpy as np

from audio_service.analysis.spectral import COL_BANDS, COL_CHROMA, COL_MEL, COL_TOTAL

#: Power floor of every log level (-100 dB re full scale): quieter bands count as silent and
#: give no flux, so digital silence has a flat envelope.
LOG_FLOOR_POWER = 1e-10

#: Harmonic change is measured over this many frames (about 70 ms): bowed and blown notes
#: take that long to rise, and a one-frame difference would split their rise into small steps.
HARMONIC_LAG = 3

#: Columns of the per-frame log the song-level pass reads (see :func:`frame_log`).
PERCUSSIVE, HARMONIC, BASS, LEVEL_DB = 0, 1, 2, 3
CHROMA = slice(4, 16)
N_LOG_COLUMNS = 16

_N_MEL = COL_MEL.stop - COL_MEL.start
_BASS_COLUMN = COL_BANDS.start  # the 20-250 Hz band


def log_levels(feats: np.ndarray) -> np.ndarray:
    """dB levels of the mel bands, the chroma classes and the bass band of each frame.

    Parameters
    ----------
    feats : np.ndarray, shape (n_frames, N_COLUMNS)
        Projected power spectra (see ``spectral.frame_features``).

    Returns
    -------
    np.ndarray, shape (n_frames, n_mel + 13), float32
        Mel-band dB, then 12 chroma dB, then the bass-band dB; floored at -100 dB.
    """
    picked = np.concatenate(
        (feats[:, COL_MEL], feats[:, COL_CHROMA], feats[:, _BASS_COLUMN : _BASS_COLUMN + 1]),
        axis=1,
    )
    levels: np.ndarray = 10.0 * np.log10(np.maximum(picked, LOG_FLOOR_POWER))
    return levels


def frame_log(feats: np.ndarray, levels: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """The song-level pass's per-frame record: three onset envelopes, level and chroma.

    Parameters
    ----------
    feats : np.ndarray, shape (n_frames, N_COLUMNS)
        Projected power spectra of consecutive frames.
    levels : np.ndarray, shape (n_frames, n_mel + 13)
        :func:`log_levels` of ``feats``.
    previous : np.ndarray, shape (HARMONIC_LAG, n_mel + 13)
        :func:`log_levels` of the frames before the first one, oldest first (copies of the
        first frame at the start of a stream).

    Returns
    -------
    np.ndarray, shape (n_frames, N_LOG_COLUMNS), float32
        Columns ``PERCUSSIVE`` (mean log-mel rise, dB), ``HARMONIC`` (mean chroma rise over
        ``HARMONIC_LAG`` frames, dB),
        ``BASS`` (bass-band rise, dB), ``LEVEL_DB`` (frame power, dB) and ``CHROMA`` (12
        chroma energies, full-scale power).
    """
    history = np.concatenate((previous, levels))
    rise = np.maximum(history[HARMONIC_LAG:] - history[HARMONIC_LAG - 1 : -1], 0.0)
    chroma = history[:, _N_MEL : _N_MEL + 12]
    slow_rise = np.maximum(chroma[HARMONIC_LAG:] - chroma[:-HARMONIC_LAG], 0.0)
    out = np.empty((len(feats), N_LOG_COLUMNS), dtype=np.float32)
    out[:, PERCUSSIVE] = rise[:, :_N_MEL].mean(axis=1)
    out[:, HARMONIC] = slow_rise.mean(axis=1)
    out[:, BASS] = rise[:, -1]
    out[:, LEVEL_DB] = 10.0 * np.log10(np.maximum(feats[:, COL_TOTAL], LOG_FLOOR_POWER))
    out[:, CHROMA] = feats[:, COL_CHROMA]
    return out


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average over ``width`` frames (same length, edges averaged over what exists)."""
    if width <= 1 or len(x) == 0:
        return np.asarray(x, dtype=np.float64)
    kernel = np.ones(width)
    total = np.convolve(x, kernel, mode="same")
    counts = np.convolve(np.ones(len(x)), kernel, mode="same")
    out: np.ndarray = total / counts
    return out


def novelty_curve(envelope: np.ndarray, *, frame_rate: float) -> np.ndarray:
    """An envelope with its slow trend removed and scaled to unit mean (dimensionless).

    Subtracting a 0.5-s moving average keeps the attacks and drops sustained rises (a
    crescendo, a fade-in); half-wave rectification keeps only what rises above the trend.

    Parameters
    ----------
    envelope : np.ndarray, shape (n,)
    frame_rate : float
        Frames per second (Hz).

    Returns
    -------
    np.ndarray, shape (n,), float64
        All zeros for a flat envelope.
    """
    x = np.asarray(envelope, dtype=np.float64)
    x = np.maximum(x - smooth(x, round(0.5 * frame_rate)), 0.0)
    mean = float(x.mean()) if len(x) else 0.0
    if mean <= 1e-9:
        return np.zeros(len(x))
    out: np.ndarray = x / mean
    return out


def combined_envelope(log: np.ndarray, *, frame_rate: float) -> np.ndarray:
    """One onset envelope from the percussive, harmonic-change and bass envelopes.

    Each is detrended and scaled to unit mean first, so none dominates by its units; the
    percussive flux carries most weight (it is the sharpest in time), harmonic change the
    next (it is what legato music has), bass onsets the least.

    Parameters
    ----------
    log : np.ndarray, shape (n_frames, N_LOG_COLUMNS)
        :func:`frame_log` rows of a whole track.
    frame_rate : float
        Frames per second (Hz).

    Returns
    -------
    np.ndarray, shape (n_frames,), float64
    """
    parts = [
        novelty_curve(log[:, column], frame_rate=frame_rate) * weight
        for column, weight in ((PERCUSSIVE, 1.0), (HARMONIC, 0.7), (BASS, 0.3))
    ]
    out: np.ndarray = np.sum(parts, axis=0)
    return out

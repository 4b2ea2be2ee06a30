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

#: Harmonic change is the rise of the 12 chroma levels over ``FAST_LAG`` frames (70 ms),
#: and, for music without sharp attacks, over ``HARMONIC_LAG`` frames (140 ms) of levels
#: first averaged over ``HARMONIC_SMOOTH`` frames: bowed, sung and blown notes take that
#: long to rise, and a one-frame difference splits their rise into steps lost in the
#: level's flutter.
FAST_LAG = 3
HARMONIC_LAG = 6
HARMONIC_SMOOTH = 3
#: A track whose percussive flux has its 99th percentile above this (dB per frame) has
#: sharp attacks (drums, plucked and struck notes: 5-18 dB; strings, choirs, organ: 2 dB).
SHARP_ATTACK_DB = 4.0
#: Frames of levels before the first new one that :func:`frame_log` needs.
HISTORY = HARMONIC_LAG + HARMONIC_SMOOTH - 1

#: Columns of the per-frame log the song-level pass reads (see :func:`frame_log`).
PERCUSSIVE, HARMONIC, BASS, LEVEL_DB, SLOW_HARMONIC = 0, 1, 2, 3, 4
CHROMA = slice(5, 17)
N_LOG_COLUMNS = 17
#: Delay of the slow harmonic envelope's response to a sudden onset (the middle of its
#: plateau), frames: removed before combining, so that all envelopes peak at the onset.
DELAY = {SLOW_HARMONIC: (HARMONIC_LAG + HARMONIC_SMOOTH - 1) // 2}

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
    previous : np.ndarray, shape (HISTORY, n_mel + 13)
        :func:`log_levels` of the frames before the first one, oldest first (copies of the
        first frame at the start of a stream).

    Returns
    -------
    np.ndarray, shape (n_frames, N_LOG_COLUMNS), float32
        Columns ``PERCUSSIVE`` (mean log-mel rise, dB), ``HARMONIC`` (mean chroma rise over
        ``FAST_LAG`` frames, dB), ``SLOW_HARMONIC`` (the same over ``HARMONIC_LAG`` frames of
        smoothed levels, dB),
        ``BASS`` (bass-band rise, dB), ``LEVEL_DB`` (frame power, dB) and ``CHROMA`` (12
        chroma energies, full-scale power).
    """
    history = np.concatenate((previous, levels))
    rise = np.maximum(history[HISTORY:] - history[HISTORY - 1 : -1], 0.0)
    chroma = history[:, _N_MEL : _N_MEL + 12]
    # Causal moving average: row j is the mean of chroma rows j .. j + SMOOTH - 1.
    cumulative = np.vstack((np.zeros((1, 12)), np.cumsum(chroma, axis=0)))
    smooth = (cumulative[HARMONIC_SMOOTH:] - cumulative[:-HARMONIC_SMOOTH]) / HARMONIC_SMOOTH
    slow_rise = np.maximum(smooth[HARMONIC_LAG:] - smooth[:-HARMONIC_LAG], 0.0)
    fast_rise = np.maximum(chroma[HISTORY:] - chroma[HISTORY - FAST_LAG : -FAST_LAG], 0.0)
    out = np.empty((len(feats), N_LOG_COLUMNS), dtype=np.float32)
    out[:, PERCUSSIVE] = rise[:, :_N_MEL].mean(axis=1)
    out[:, HARMONIC] = fast_rise.mean(axis=1)
    out[:, SLOW_HARMONIC] = slow_rise.mean(axis=1)
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


def has_sharp_attacks(log: np.ndarray) -> bool:
    """Whether the percussive flux reaches ``SHARP_ATTACK_DB`` (its 99th percentile)."""
    return len(log) > 0 and float(np.percentile(log[:, PERCUSSIVE], 99)) >= SHARP_ATTACK_DB


def combined_envelope(log: np.ndarray, *, frame_rate: float) -> np.ndarray:
    """One onset envelope from the percussive, harmonic-change and bass envelopes.

    Each is detrended and scaled to unit mean first, so none dominates by its units. With
    sharp attacks the percussive flux leads (it is the sharpest in time; weights 1, 0.7 for
    the 70-ms harmonic change, 0.3 for bass onsets); without them, harmonic change over
    140 ms is what legato music has, and it leads (weights 1, 2, 0.3).

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
    sharp = has_sharp_attacks(log)
    weights = (
        ((PERCUSSIVE, 1.0), (HARMONIC, 0.7), (BASS, 0.3))
        if sharp
        else ((PERCUSSIVE, 1.0), (SLOW_HARMONIC, 2.0), (BASS, 0.3))
    )
    parts = [
        _advance(novelty_curve(log[:, c], frame_rate=frame_rate), DELAY.get(c, 0)) * w
        for c, w in weights
    ]
    out: np.ndarray = np.sum(parts, axis=0)
    return out


def _advance(x: np.ndarray, frames: int) -> np.ndarray:
    """``x`` moved ``frames`` earlier (zeros at the end)."""
    if frames <= 0:
        return x
    out = np.zeros_like(x)
    out[:-frames] = x[frames:]
    return out

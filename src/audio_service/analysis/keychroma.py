"""A fine-resolution chroma for the key, from the low band of the frames already computed.

The 46-ms frames resolve 21.5 Hz, wider than a semitone below about 360 Hz, so bass notes
and the lower voices, which say most about the key, smear over several pitch classes. A
constant-Q chroma (as librosa's ``chroma_cqt``) resolves them; here the same resolution comes
cheaply from the spectra the stream computes anyway: the bins below ``LOW_BINS`` of each
frame are turned back into a short frame of the signal at 1/16 of the sample rate (an
inverse FFT of 128 points) and overlap-added (Hann frames at 50 % overlap sum to one), which
low-passes and decimates the signal to about 2.8 kHz. Frames of 2,048 samples of that signal
(743 ms, 1.35 Hz resolution) are then projected onto 12 pitch classes, every octave
weighted alike from 50 Hz to 1.3 kHz (no centre-octave taper: the bass counts fully).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

#: Complex bins of each analysis frame kept for the low band (bins 0..64: up to 1.38 kHz at
#: 44.1 kHz; the decimated signal has 128 samples per analysis frame).
LOW_BINS = 65
LOW_FRAME = 2 * (LOW_BINS - 1)
#: Long frames for the key chroma, in decimated samples (743 ms at 44.1 kHz), hop half.
KEY_FRAME = 2048
KEY_HOP = KEY_FRAME // 2
#: Lowest frequency projected onto the pitch classes, Hz.
KEY_FMIN = 50.0


@dataclass(frozen=True)
class KeyBank:
    """Window and pitch-class filters of the long frames at one decimated sample rate."""

    samplerate: float  #: decimated sample rate, Hz
    window: np.ndarray  #: (KEY_FRAME,) periodic Hann
    freqs: np.ndarray  #: (KEY_FRAME // 2 + 1,) bin frequencies, Hz


@lru_cache(maxsize=8)
def key_bank(samplerate: int, n_fft: int) -> KeyBank:
    """The long-frame setup for a stream at ``samplerate`` analysed with ``n_fft`` frames."""
    low_rate = samplerate * LOW_FRAME / n_fft
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(KEY_FRAME) / KEY_FRAME)
    freqs = np.arange(KEY_FRAME // 2 + 1) * low_rate / KEY_FRAME
    return KeyBank(samplerate=low_rate, window=window, freqs=freqs)


def pitch_filters(freqs: np.ndarray) -> np.ndarray:
    """Triangular weights of spectrum bins on a grid of thirds of a semitone, (36, n_bins).

    Row ``b`` is centred on ``b / 3`` semitones above C (row 0: C, row 3: C#, ...), so a
    tuning offset can be undone after the fact (:func:`fold`). Each bin between
    ``KEY_FMIN`` and the band edge (0.95 of the highest bin) is shared between the two
    rows around its pitch, so every bin counts once.
    """
    top = 0.95 * float(freqs[-1])
    ok = (freqs >= KEY_FMIN) & (freqs <= top)
    thirds = 3.0 * (12.0 * np.log2(np.maximum(freqs, 1e-6) / 440.0) + 9.0)
    distance = np.remainder(thirds[None, :] - np.arange(36.0)[:, None] + 18.0, 36.0) - 18.0
    weights: np.ndarray = np.maximum(0.0, 1.0 - np.abs(distance)) * ok[None, :]
    return weights


def fold(fine: np.ndarray, tuning: float) -> np.ndarray:
    """12 pitch classes from the 36-row chroma, the tuning offset undone.

    Parameters
    ----------
    fine : np.ndarray, shape (..., 36)
        :func:`pitch_filters` projections.
    tuning : float
        Offset of the music from A4 = 440 Hz equal temperament, semitones (-0.5..0.5).

    Returns
    -------
    np.ndarray, shape (..., 12)
        Pitch class ``p`` sums the rows within a third of a semitone of ``3 p + 3 tuning``
        (linear interpolation between rows), rows C..B.
    """
    shift = 3.0 * tuning
    whole = int(np.floor(shift))
    frac = shift - whole
    rolled = np.roll(fine, -whole, axis=-1)
    shifted = (1 - frac) * rolled + frac * np.roll(rolled, -1, axis=-1)
    spread = shifted + np.roll(shifted, 1, axis=-1) + np.roll(shifted, -1, axis=-1)
    out: np.ndarray = spread[..., ::3]
    return out


def overlap_add(low: np.ndarray, carry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decimated samples from consecutive frames' low-band spectra.

    Parameters
    ----------
    low : np.ndarray, shape (n_frames, LOW_BINS), complex
        The first bins of each windowed frame's rFFT (Hann window, 50 % overlap).
    carry : np.ndarray, shape (LOW_FRAME // 2,)
        Second half of the previous frame (zeros at the start).

    Returns
    -------
    (samples, carry) : (np.ndarray of shape (n_frames * LOW_FRAME // 2,), np.ndarray)
        The decimated signal (scaled like the input up to a constant), and the new carry.
    """
    half = LOW_FRAME // 2
    short = scipy.fft.irfft(low, n=LOW_FRAME, axis=1)
    samples = short[:, :half].copy()
    samples[0] += carry
    samples[1:] += short[:-1, half:]
    return samples.reshape(-1), short[-1, half:].copy()


def key_spectra(signal: np.ndarray, bank: KeyBank) -> np.ndarray:
    """Power spectra of the long frames of a decimated signal, shape (n, KEY_FRAME // 2 + 1)."""
    count = (len(signal) - KEY_FRAME) // KEY_HOP + 1
    if count <= 0:
        return np.zeros((0, KEY_FRAME // 2 + 1))
    step = signal.strides[0]
    frames = np.lib.stride_tricks.as_strided(
        signal, shape=(count, KEY_FRAME), strides=(KEY_HOP * step, step)
    )
    power = np.abs(scipy.fft.rfft(frames * bank.window, axis=1))
    power *= power
    out: np.ndarray = power
    return out


def estimate_tuning(spectrum: np.ndarray, freqs: np.ndarray) -> float:
    """Deviation of the spectrum's peaks from equal temperament at A4 = 440 Hz, semitones.

    Each local maximum between ``KEY_FMIN`` and the band edge is located by parabolic
    interpolation in log power; the power-weighted circular mean of the peaks' offsets from
    the nearest semitone is the tuning (in -0.5..0.5).

    Parameters
    ----------
    spectrum : np.ndarray, shape (n_bins,)
        Long-term power spectrum (e.g. summed over a song's long frames).
    freqs : np.ndarray, shape (n_bins,)
    """
    log = np.log(np.maximum(spectrum, 1e-30))
    inner = (spectrum[1:-1] > spectrum[:-2]) & (spectrum[1:-1] >= spectrum[2:])
    peaks = np.flatnonzero(inner) + 1
    peaks = peaks[(freqs[peaks] >= KEY_FMIN) & (freqs[peaks] <= 0.95 * freqs[-1])]
    if len(peaks) == 0:
        return 0.0
    left, centre, right = log[peaks - 1], log[peaks], log[peaks + 1]
    curvature = left - 2 * centre + right
    shift = np.where(
        curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1), 0
    )
    step = freqs[1] - freqs[0]
    hz = freqs[peaks] + shift * step
    pitch = 12.0 * np.log2(hz / 440.0)
    weights = spectrum[peaks]
    angle = 2 * np.pi * pitch
    mean = np.angle(np.sum(weights * np.exp(1j * angle)))
    return float(mean / (2 * np.pi))

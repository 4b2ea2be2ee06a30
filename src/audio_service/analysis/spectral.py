"""Short-time spectra and the one projection matrix every per-frame feature comes from.

Each frame's power spectrum is multiplied once by a (bins, columns) matrix whose columns are
the five Hz bands, the total power, the centroid numerator, the 12 chroma classes and a small
mel bank. One BLAS call per block of frames replaces a dozen reductions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

#: Band edges in Hz, the contract of DESIGN.md ("The analysis").
BANDS: dict[str, tuple[float, float]] = {
    "bass": (20.0, 250.0),
    "low_mid": (250.0, 500.0),
    "mid": (500.0, 2000.0),
    "high_mid": (2000.0, 4000.0),
    "high": (4000.0, 20000.0),
}
N_MELS = 32
MEL_FMIN = 30.0
MEL_FMAX = 16000.0

# Column layout of the projection matrix.
COL_BANDS = slice(0, 5)
COL_TOTAL = 5
COL_CENTROID = 6
COL_CHROMA = slice(7, 19)
COL_MEL = slice(19, 19 + N_MELS)
N_COLUMNS = 19 + N_MELS


def frame_length(samplerate: int) -> int:
    """FFT size giving a window of about 46 ms (2048 at 44.1 and 48 kHz, 1024 at 22.05 kHz)."""
    return int(2 ** round(np.log2(samplerate * 0.0464)))


#: Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above.
MEL_LINEAR_HZ = 1000.0
MEL_HZ_PER_MEL = 200.0 / 3
MEL_LOG_STEP = np.log(6.4) / 27
#: Chroma filters (Ellis's chromagram, librosa's defaults): each bin's bump is half as wide
#: as the bin spacing in semitones, and octaves are weighted by a Gaussian centred on
#: octave 5 (about 523 Hz) with a two-octave standard deviation.
CHROMA_CENTRE_OCTAVE = 5.0
CHROMA_OCTAVE_WIDTH = 2.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / MEL_HZ_PER_MEL
    above = (
        MEL_LINEAR_HZ / MEL_HZ_PER_MEL + np.log(np.maximum(hz, 1e-9) / MEL_LINEAR_HZ) / MEL_LOG_STEP
    )
    return np.where(hz >= MEL_LINEAR_HZ, above, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    linear_end = MEL_LINEAR_HZ / MEL_HZ_PER_MEL
    above = MEL_LINEAR_HZ * np.exp(MEL_LOG_STEP * (mel - linear_end))
    return np.where(mel >= linear_end, above, mel * MEL_HZ_PER_MEL)


def mel_filters(samplerate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular mel filters, shape (n_mels, n_fft // 2 + 1), area-normalised (Slaney).

    Equal to ``librosa.filters.mel`` with its defaults (``htk=False``, ``norm="slaney"``):
    triangles between consecutive points equally spaced in mel, each scaled by
    2 / its width in Hz so that every filter passes the same energy of white noise.
    """
    bins = np.arange(n_fft // 2 + 1) * samplerate / n_fft
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(fmin)), _hz_to_mel(np.array(fmax)), n_mels + 2)
    )
    widths = np.diff(edges)
    offsets = edges[:, None] - bins[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def chroma_filters(samplerate: int, n_fft: int) -> np.ndarray:
    """Chroma filters, shape (12, n_fft // 2 + 1), rows C, C#, ... B.

    Equal to ``librosa.filters.chroma`` with its defaults (A4 = 440 Hz): each FFT bin spreads
    over the pitch classes as a Gaussian around its own (fractional) pitch class, the columns
    are normalised to unit length, then weighted by the octave Gaussian.
    """
    freqs = np.arange(1, n_fft) * samplerate / n_fft
    # Pitch in semitones above A0 / 16 (C-ish reference of librosa's octave numbering).
    pitch = 12 * np.log2(freqs / (440.0 / 16))
    pitch = np.concatenate(([pitch[0] - 18.0], pitch))  # the DC bin: 1.5 octaves below bin 1
    widths = np.concatenate((np.maximum(np.diff(pitch), 1.0), [1.0]))
    distance = pitch[None, :] - np.arange(12.0)[:, None]
    distance = np.remainder(distance + 6 + 120, 12) - 6
    weights = np.exp(-0.5 * (2 * distance / widths[None, :]) ** 2)
    weights /= np.sqrt(np.sum(weights**2, axis=0, keepdims=True))
    octave = pitch / 12
    weights *= np.exp(-0.5 * ((octave - CHROMA_CENTRE_OCTAVE) / CHROMA_OCTAVE_WIDTH) ** 2)
    # Rows start at A; roll so that they start at C.
    weights = np.roll(weights, -3, axis=0)
    return np.ascontiguousarray(weights[:, : n_fft // 2 + 1], dtype=np.float32)


@dataclass(frozen=True)
class Projection:
    """Everything fixed by (sample rate, FFT size): window and feature matrix."""

    samplerate: int
    n_fft: int
    hop: int
    window: np.ndarray  #: (n_fft,) float32 periodic Hann
    matrix: np.ndarray  #: (n_fft // 2 + 1, N_COLUMNS) float32

    @property
    def frame_rate(self) -> float:
        """Frames per second (Hz)."""
        return self.samplerate / self.hop


@lru_cache(maxsize=8)
def projection(samplerate: int) -> Projection:
    """Build (once per sample rate) the window and the feature projection matrix."""
    n_fft = frame_length(samplerate)
    n_bins = n_fft // 2 + 1
    freqs = np.arange(n_bins) * samplerate / n_fft
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    # Parseval: with these weights the sum over bins is the mean-square of the framed signal,
    # so a full-scale sine reads -3.01 dB and band powers add up to the total.
    weights = np.full(n_bins, 2.0)
    weights[0] = 1.0
    if n_fft % 2 == 0:
        weights[-1] = 1.0
    weights /= n_fft * float(np.sum(window.astype(np.float64) ** 2))

    matrix = np.zeros((n_bins, N_COLUMNS))
    for column, (low, high) in enumerate(BANDS.values()):
        matrix[:, column] = (freqs >= low) & (freqs < high)
    matrix[:, COL_TOTAL] = 1.0
    matrix[:, COL_CENTROID] = freqs
    matrix[:, COL_CHROMA] = chroma_filters(samplerate, n_fft).T
    fmax = min(MEL_FMAX, samplerate / 2)
    matrix[:, COL_MEL] = mel_filters(samplerate, n_fft, N_MELS, MEL_FMIN, fmax).T
    matrix *= weights[:, None]
    return Projection(
        samplerate=samplerate,
        n_fft=n_fft,
        hop=n_fft // 2,
        window=window,
        matrix=np.ascontiguousarray(matrix, dtype=np.float32),
    )


def frame_features(
    frames: np.ndarray, proj: Projection, *, out: np.ndarray, low: np.ndarray | None = None
) -> None:
    """Project windowed power spectra of ``frames`` onto the feature columns.

    Parameters
    ----------
    frames : np.ndarray, shape (n_frames, n_fft), float32
        Raw (unwindowed) frames of a mono signal in full-scale units.
    proj : Projection
    out : np.ndarray, shape (n_frames, N_COLUMNS), float32
        Receives band powers and total power (mean-square, full scale = 1), the centroid numerator
        (Hz x power), chroma energies and mel energies.
    low : np.ndarray, shape (n_frames, k), complex64, optional
        Receives the first ``k`` complex bins of each frame's spectrum (the key chroma's low
        band, see ``keychroma``).
    """
    spectrum = scipy.fft.rfft(frames * proj.window, axis=1)
    if low is not None:
        low[:] = spectrum[:, : low.shape[1]]
    # |X| then an in-place square measured fastest of the ways to get |X|^2 from complex64.
    power = np.abs(spectrum)
    power *= power
    np.matmul(power, proj.matrix, out=out)

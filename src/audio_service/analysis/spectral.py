"""Short-time spectra and the one projection matrix every per-frame feature comes from.

Each frame's power spectrum is multiplied once by a (bins, columns) matrix whose columns are
the five Hz bands, the total power, the centroid numerator, a K-weighted power, the 12 chroma
classes and a small mel bank. One BLAS call per block of frames replaces a dozen reductions.
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
COL_KWEIGHTED = 7
COL_CHROMA = slice(8, 20)
COL_MEL = slice(20, 20 + N_MELS)
N_COLUMNS = 20 + N_MELS


def frame_length(samplerate: int) -> int:
    """FFT size giving a window of about 46 ms (2048 at 44.1 and 48 kHz, 1024 at 22.05 kHz)."""
    return int(2 ** round(np.log2(samplerate * 0.0464)))


def k_weighting_gain(freqs: np.ndarray) -> np.ndarray:
    """Power gain of the ITU-R BS.1770 K-weighting curve at ``freqs`` (Hz).

    The two BS.1770 biquads (high-shelf +4 dB around 1.7 kHz, high-pass around 38 Hz) are
    evaluated in the analogue prototype form, which matches the digital filters to a fraction
    of a dB below 16 kHz and lets loudness come from the spectrum already computed.
    """
    f = np.maximum(np.asarray(freqs, dtype=np.float64), 1e-3)
    # High-shelf: gain G = +4 dB above f0 = 1681.97 Hz, Q = 0.7072.
    f0, q, gain_db = 1681.974450955533, 0.7071752369554196, 3.999843853973347
    g = 10 ** (gain_db / 20)
    s = 1j * f / f0
    shelf = (g * s**2 + np.sqrt(g) / q * s + 1) / (s**2 + s / q + 1)
    # High-pass: f1 = 38.13 Hz, Q = 0.5003.
    f1, q1 = 38.13547087602444, 0.5003270373238773
    s1 = 1j * f / f1
    highpass = s1**2 / (s1**2 + s1 / q1 + 1)
    return np.asarray(np.abs(shelf * highpass) ** 2)


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
    import librosa.filters

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
    matrix[:, COL_KWEIGHTED] = k_weighting_gain(freqs)
    matrix[:, COL_CHROMA] = librosa.filters.chroma(sr=samplerate, n_fft=n_fft).T
    fmax = min(MEL_FMAX, samplerate / 2)
    mel = librosa.filters.mel(sr=samplerate, n_fft=n_fft, n_mels=N_MELS, fmin=MEL_FMIN, fmax=fmax)
    matrix[:, COL_MEL] = mel.T
    matrix *= weights[:, None]
    return Projection(
        samplerate=samplerate,
        n_fft=n_fft,
        hop=n_fft // 2,
        window=window,
        matrix=np.ascontiguousarray(matrix, dtype=np.float32),
    )


def frame_features(frames: np.ndarray, proj: Projection, *, out: np.ndarray) -> None:
    """Project windowed power spectra of ``frames`` onto the feature columns.

    Parameters
    ----------
    frames : np.ndarray, shape (n_frames, n_fft), float32
        Raw (unwindowed) frames of a mono signal in full-scale units.
    proj : Projection
    out : np.ndarray, shape (n_frames, N_COLUMNS), float32
        Receives band powers and total power (mean-square, full scale = 1), the centroid numerator
        (Hz x power), K-weighted power, chroma energies and mel energies.
    """
    spectrum = scipy.fft.rfft(frames * proj.window, axis=1)
    # |X| then an in-place square measured fastest of the ways to get |X|^2 from complex64.
    power = np.abs(spectrum)
    power *= power
    np.matmul(power, proj.matrix, out=out)

"""The numpy filter banks equal librosa's, so dropping librosa from start-up changed nothing."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from audio_service.analysis.spectral import (
    MEL_FMAX,
    MEL_FMIN,
    N_MELS,
    chroma_filters,
    frame_length,
    mel_filters,
)

RATES = [8_000, 22_050, 44_100, 48_000, 96_000]


@pytest.mark.parametrize("sr", RATES)
def test_mel_filters_equal_librosa(sr: int) -> None:
    n_fft = frame_length(sr)
    fmax = min(MEL_FMAX, sr / 2)
    ours = mel_filters(sr, n_fft, N_MELS, MEL_FMIN, fmax)
    theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=N_MELS, fmin=MEL_FMIN, fmax=fmax)
    assert ours.shape == theirs.shape == (N_MELS, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("sr", RATES)
def test_chroma_filters_equal_librosa(sr: int) -> None:
    n_fft = frame_length(sr)
    ours = chroma_filters(sr, n_fft)
    theirs = librosa.filters.chroma(sr=sr, n_fft=n_fft)
    assert ours.shape == theirs.shape == (12, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-8)

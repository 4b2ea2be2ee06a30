"""Cold-start floor for ``audio-service analyze FILE``: run as a fresh process by the bench.

Decode the file with libsndfile in the analyzer's blocks (65,536 frames, float32), downmix,
and take one windowed FFT of every frame of the analyzer's size and hop; import nothing
else. A fresh-process analysis of the file cannot cost less than this.

Usage: ``python bench/cold_floor.py FILE``
"""

from __future__ import annotations

import sys

import numpy as np
import scipy.fft
import soundfile as sf
from numpy.lib.stride_tricks import as_strided

#: The analyzer's block, FFT size and batch of frames at 44.1 / 48 kHz (decode.py, spectral.py,
#: stream.py); copied rather than imported, so that the floor does not import the service.
BLOCK_FRAMES = 65_536
N_FFT = 2048
BATCH = 64


def main(path: str) -> None:
    hop = N_FFT // 2
    window = np.hanning(N_FFT).astype(np.float32)
    buffer = np.zeros(N_FFT // 2, dtype=np.float32)
    with sf.SoundFile(path) as handle:
        mix = np.full(handle.channels, 1 / handle.channels, dtype=np.float32)
        while True:
            block = handle.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
            if len(block) == 0:
                break
            buffer = np.concatenate((buffer, block @ mix))
            count = (len(buffer) - N_FFT) // hop + 1 if len(buffer) >= N_FFT else 0
            frames = as_strided(buffer, shape=(count, N_FFT), strides=(4 * hop, 4))
            for i in range(0, count, BATCH):
                scipy.fft.rfft(frames[i : i + BATCH] * window, axis=1)
            buffer = buffer[count * hop :]


if __name__ == "__main__":
    main(sys.argv[1])

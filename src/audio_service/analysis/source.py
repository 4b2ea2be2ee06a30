"""An open audio stream read block by block, whatever decodes it (``decode``, ``ffmpeg``).

Both decoders subclass :class:`AudioSource` and refuse absurd headers with
:func:`check_format`; this module sits below both, so neither imports the other's module.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType

import numpy as np

from audio_service.errors import AudioTooLong, DecodeError

#: Sample rates outside this range are refused before anything is allocated for them.
MIN_SAMPLERATE = 8000
MAX_SAMPLERATE = 384_000
MAX_CHANNELS = 16
#: Frames per block when the caller does not care (about 1.5 s at 44.1 kHz).
DEFAULT_BLOCK_FRAMES = 65_536


def check_format(samplerate: int, channels: int, name: str) -> None:
    """Refuse absurd headers before any buffer is sized from them."""
    if not MIN_SAMPLERATE <= samplerate <= MAX_SAMPLERATE:
        raise DecodeError(
            f"{name}: unsupported sample rate {samplerate} Hz "
            f"(accepted {MIN_SAMPLERATE}..{MAX_SAMPLERATE})"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise DecodeError(
            f"{name}: unsupported channel count {channels} (accepted 1..{MAX_CHANNELS})"
        )


class AudioSource:
    """An open audio stream, read block by block.

    Attributes
    ----------
    samplerate : int
        Samples per second per channel (Hz).
    channels : int
        Number of interleaved channels in every block.
    frames : int or None
        Length in frames when the container states it (an estimate for ffmpeg sources),
        None when unknown.
    """

    samplerate: int
    channels: int
    frames: int | None

    def __init__(self, *, name: str, max_duration: float | None) -> None:
        self.name = name
        self.max_duration = max_duration

    def _read(self, block_frames: int) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    @property
    def duration(self) -> float | None:
        """Stated length in seconds, or None when unknown."""
        return None if self.frames is None else self.frames / self.samplerate

    def blocks(self, block_frames: int = DEFAULT_BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """Yield the decoded audio in order.

        Parameters
        ----------
        block_frames : int
            Frames per block; the last block may be shorter.

        Yields
        ------
        block : np.ndarray, shape (n, channels), float32
            Samples in -1..1 full scale.

        Raises
        ------
        DecodeError
            The stream holds no decodable audio at all (a damaged stream ends at the damage).
        AudioTooLong
            More than ``max_duration`` seconds were decoded.
        """
        limit = None
        if self.max_duration is not None:
            limit = int(self.max_duration * self.samplerate)
        decoded = 0
        for block in self._read(max(1, int(block_frames))):
            decoded += len(block)
            if limit is not None and decoded > limit:
                raise AudioTooLong(
                    f"{self.name}: audio is longer than the limit of {self.max_duration:g} s"
                )
            yield block
        if decoded == 0:
            raise DecodeError(f"{self.name}: the file contains no decodable audio")

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

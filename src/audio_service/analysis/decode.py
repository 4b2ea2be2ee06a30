"""Incremental audio decoding: libsndfile first, ffmpeg for everything else.

libsndfile (bundled with soundfile) reads WAV, FLAC, MP3 and OGG in-process with no external
binary, so it is tried first. Containers it cannot open (m4a, webm, what yt-dlp downloads) go
through the ffmpeg binary shipped by imageio-ffmpeg, streaming raw float32 PCM from a pipe.
Either way the caller gets the same :class:`AudioSource` and never holds the whole file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from audio_service.analysis.source import AudioSource, check_format
from audio_service.errors import AudioTooLong, DecodeError

#: Read size when salvaging the good part of a damaged file.
SALVAGE_BLOCK_FRAMES = 1024


class _SoundFileSource(AudioSource):
    def __init__(
        self, handle: sf.SoundFile, path: Path, *, name: str, max_duration: float | None
    ) -> None:
        super().__init__(name=name, max_duration=max_duration)
        self._handle = handle
        self._path = path
        self.samplerate = int(handle.samplerate)
        self.channels = int(handle.channels)
        # libsndfile reports a huge frame count for streams of unknown length.
        frames = int(handle.frames)
        self.frames = frames if 0 < frames < 2**62 else None

    def _read(self, block_frames: int) -> Iterator[np.ndarray]:
        position = 0
        while True:
            try:
                block = self._handle.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError):
                yield from self._salvage(position)
                return
            if len(block) == 0:
                return
            position += len(block)
            yield block

    def _salvage(self, position: int) -> Iterator[np.ndarray]:
        """Decode what precedes the damage in a truncated or corrupt file; stop there.

        libsndfile fails a whole read at the damage (losing the good frames before it in
        that block) and its handle stays failed, so a fresh handle re-reads from the last
        good frame in small steps.
        """
        try:
            with sf.SoundFile(self._path) as handle:
                handle.seek(position)
                while True:
                    block = handle.read(SALVAGE_BLOCK_FRAMES, dtype="float32", always_2d=True)
                    if len(block) == 0:
                        return
                    yield block
        except (sf.LibsndfileError, RuntimeError):
            return

    def close(self) -> None:
        self._handle.close()


def open_audio(
    path: str | Path, *, max_duration: float | None = None, name: str | None = None
) -> AudioSource:
    """Open an audio file for block-wise decoding.

    Parameters
    ----------
    path : str or Path
        Any file libsndfile or ffmpeg can decode.
    max_duration : float, optional
        Longest accepted audio in seconds; checked against the header when it states a length
        and again while decoding.
    name : str, optional
        What error messages call the file (the user's file name, not a temp path);
        defaults to the path's last part.

    Returns
    -------
    AudioSource
        Use it as a context manager so the file (or ffmpeg process) is always released.

    Raises
    ------
    DecodeError
        Missing, empty or undecodable file, or an absurd sample rate or channel count.
    AudioTooLong
        The header already states a length beyond ``max_duration``.
    """
    path = Path(path)
    name = name or path.name
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise DecodeError(f"{name}: cannot read file ({e.strerror})") from e
    if size == 0:
        raise DecodeError(f"{name}: the file is empty")
    source: AudioSource
    try:
        handle = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        # libsndfile does not know the container (m4a, webm, ...): ffmpeg may.
        from audio_service.analysis.ffmpeg import FfmpegSource

        source = FfmpegSource(path, name=name, max_duration=max_duration)
    else:
        try:
            check_format(int(handle.samplerate), int(handle.channels), name)
        except DecodeError:
            handle.close()
            raise
        source = _SoundFileSource(handle, path, name=name, max_duration=max_duration)
    duration = source.duration
    if max_duration is not None and duration is not None and duration > max_duration:
        source.close()
        raise AudioTooLong(f"{name}: audio is {duration:.1f} s, the limit is {max_duration:g} s")
    return source

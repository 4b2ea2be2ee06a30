"""Whole-file analysis: decode in blocks, stream through the analyzer, collect the result."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from audio_service.analysis.decode import open_audio
from audio_service.analysis.source import DEFAULT_BLOCK_FRAMES
from audio_service.analysis.stream import StreamingAnalyzer
from audio_service.protocol import Analysis, Segment

#: Sample rates whose filter banks :func:`warm_up` builds ahead of the first job.
COMMON_SAMPLERATES = (44_100, 48_000, 22_050)


def analyze_file(
    path: str | Path,
    *,
    on_segment: Callable[[Segment], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
    on_start: Callable[[float | None], None] | None = None,
    max_duration: float | None = None,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
    name: str | None = None,
) -> Analysis:
    """Analyse an audio file, reporting each segment as soon as it is complete.

    Parameters
    ----------
    path : str or Path
        Any file :func:`open_audio` can decode.
    on_segment : callable, optional
        Called with every segment dict, in time order, while decoding continues.
    on_progress : callable, optional
        Called after every decoded block with the fraction done (0..1) when the file states
        its length.
    on_start : callable, optional
        Called once the file is open, before any segment, with its stated duration in
        seconds (None when the container does not state it).
    max_duration : float, optional
        Longest accepted audio, seconds (:class:`~audio_service.errors.AudioTooLong` beyond).
    block_frames : int
        Frames decoded per block.
    name : str, optional
        What error messages call the file (see :func:`open_audio`).

    Returns
    -------
    dict
        :meth:`StreamingAnalyzer.summary` plus ``samplerate``, ``channels`` and ``segments``;
        strict-JSON-safe (plain floats, ints, strings, None).

    Raises
    ------
    DecodeError, AudioTooLong
    """
    segments: list[Segment] = []

    def emit(produced: list[Segment]) -> None:
        for segment in produced:
            segments.append(segment)
            if on_segment is not None:
                on_segment(segment)

    with open_audio(path, max_duration=max_duration, name=name) as source:
        analyzer = StreamingAnalyzer(source.samplerate)
        if on_start is not None:
            on_start(source.duration)
        for block in source.blocks(block_frames):
            emit(analyzer.push(block))
            if on_progress is not None and source.frames:
                on_progress(min(1.0, analyzer.samples / source.frames))
        emit(analyzer.finish())
        result = analyzer.summary()
        result["samplerate"] = source.samplerate
        result["channels"] = source.channels
    result["segments"] = segments
    return result


def warm_up() -> None:
    """Import the analysis and build the filter banks of common sample rates once.

    The job forkserver calls this at start so that every job process inherits them warm.
    """
    import numpy as np

    for samplerate in COMMON_SAMPLERATES:
        analyzer = StreamingAnalyzer(samplerate)
        rng = np.random.default_rng(0)
        analyzer.push(0.1 * rng.standard_normal(5 * samplerate).astype(np.float32))
        analyzer.finish()
        analyzer.summary()

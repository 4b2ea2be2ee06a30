"""``audio-service analyze FILE``: analyse an audio file locally, no server.

Prints a progress bar (on a terminal) and a short summary; ``--json OUT`` writes the full
analysis, ``--stream`` writes segments as NDJSON while they are produced (to OUT, or to
stdout when no OUT is given). An undecodable file gives one line on stderr and status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from audio_service.protocol import Analysis, Segment

BAR_WIDTH = 30
#: The analysis runs on one thread, as in a job process (jobs/runner.py sets the same): the
#: BLAS pools only add start-up time, memory and, for its small products, contention.
THREAD_POOL_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "analyze", help="analyse an audio file locally and print a summary"
    )
    _add_arguments(parser)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", type=Path, help="audio file (wav, mp3, m4a, ...)")
    parser.add_argument(
        "--json",
        dest="out",
        metavar="OUT",
        type=Path,
        help="write the full analysis as JSON to OUT ('-' for stdout)",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="write segments as NDJSON, one per line, as they are produced (to OUT or stdout)",
    )
    parser.set_defaults(handler=run)


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[TextIO]:
    """Silence C libraries that print to file descriptor 2 (libmpg123 chatters about corrupt
    MP3 frames) and hand back a stream on the real stderr for this command's own output."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    real = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        yield real
    finally:
        real.flush()
        real.close()
        os.dup2(saved, 2)
        os.close(saved)


class _ProgressBar:
    """A one-line bar on a terminal; silent when stderr is a file or a pipe."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._enabled = stream.isatty()
        self._shown = -1

    def update(self, fraction: float) -> None:
        percent = int(fraction * 100)
        if not self._enabled or percent == self._shown:
            return
        self._shown = percent
        filled = BAR_WIDTH * percent // 100
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self._stream.write(f"\ranalyzing [{bar}] {percent:3d}%")
        self._stream.flush()

    def close(self) -> None:
        if self._enabled and self._shown >= 0:
            self._stream.write("\r\033[K")
            self._stream.flush()


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def summary_lines(name: str, analysis: Analysis) -> list[str]:
    """Human-readable summary: duration, tempo, key, loudness, emotion, sections."""
    tempo = analysis["tempo"]
    tempo_text = "unknown" if tempo["bpm"] is None else f"{tempo['bpm']:.1f} BPM"
    key_text = "unknown" if analysis["key"] is None else f"{analysis['key']} {analysis['mode']}"
    emotion = analysis["emotion"]
    sections = (
        " | ".join(f"{_clock(s['start'])} {s['label']}" for s in analysis["sections"]) or "none"
    )
    return [
        f"{name}: {_clock(analysis['duration'])}, {analysis['samplerate']} Hz, "
        f"{analysis['segment_count']} segments",
        f"  tempo     {tempo_text} (confidence {tempo['confidence']:.2f})",
        f"  key       {key_text} (confidence {analysis['key_confidence']:.2f})",
        f"  loudness  {analysis['lufs']:.1f} LUFS, {analysis['loudness_db']:.1f} dBFS RMS",
        f"  emotion   {emotion['primary']} (confidence {emotion['confidence']:.2f}, "
        f"valence {emotion['valence']:.2f}, arousal {emotion['arousal']:.2f})",
        f"  sections  {sections}",
    ]


def run(args: argparse.Namespace) -> int:
    # Before numpy is first imported: the pools are sized when it loads.
    for name in THREAD_POOL_VARIABLES:
        os.environ.setdefault(name, "1")
    from audio_service.errors import ServiceError

    with _quiet_native_stderr() as err:
        try:
            _analyse(args, err)
        except ServiceError as e:
            err.write(f"audio-service analyze: error: {e.message}\n")
            return 1
        except OSError as e:
            err.write(f"audio-service analyze: error: {e}\n")
            return 1
    return 0


def _analyse(args: argparse.Namespace, err: TextIO) -> None:
    from audio_service.analysis import analyze_file
    from audio_service.protocol import dumps

    path: Path = args.file
    to_stdout = args.out is None or str(args.out) == "-"
    with contextlib.ExitStack() as stack:
        segments_out: TextIO | None = None
        if args.stream:
            segments_out = sys.stdout
            if not to_stdout:
                segments_out = stack.enter_context(args.out.open("w", encoding="utf-8"))
        progress = _ProgressBar(err)
        stack.callback(progress.close)

        def on_segment(segment: Segment) -> None:
            if segments_out is not None:
                segments_out.write(dumps(segment) + "\n")

        analysis = analyze_file(path, on_segment=on_segment, on_progress=progress.update)
    if args.out is not None and not args.stream:
        text = dumps(analysis) + "\n"
        if to_stdout:
            sys.stdout.write(text)
        else:
            args.out.write_text(text, encoding="utf-8")
    # Keep stdout machine-readable whenever it carries JSON.
    report = err if (args.out is not None or args.stream) and to_stdout else sys.stdout
    report.write("\n".join(summary_lines(path.name, analysis)) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python -m audio_service.commands.analyze``."""
    parser = argparse.ArgumentParser(prog="audio-service analyze", description=__doc__)
    _add_arguments(parser)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

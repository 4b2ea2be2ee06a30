"""``audio-service analyze``: summary, JSON and NDJSON output, one-line errors."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audio_service.commands import analyze
from tests.support import signals


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    beat = signals.beat_track([(100.0, 6.5)], seed=11)
    chords = signals.chord_progression("A", "minor", repeats=2)[: len(beat)]
    return signals.write(tmp_path_factory.mktemp("cli") / "song.wav", beat + chords)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    analyze.register(parser.add_subparsers())
    return parser.parse_args(["analyze", *argv])


def test_summary_and_json_file(
    song: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "analysis.json"
    args = parse(str(song), "--json", str(out))
    assert args.handler(args) == 0
    analysis = json.loads(out.read_text())
    assert len(analysis["segments"]) == analysis["segment_count"] == 7
    assert analysis["duration"] == 6.5
    text = capsys.readouterr().out
    for word in ("tempo", "key", "emotion", "sections", "0:06.5"):
        assert word in text


def test_stream_writes_one_segment_per_line(song: Path, capfd: pytest.CaptureFixture[str]) -> None:
    args = parse(str(song), "--stream")
    assert args.handler(args) == 0
    captured = capfd.readouterr()
    lines = captured.out.strip().splitlines()
    assert [json.loads(line)["start_time"] for line in lines] == [float(i) for i in range(7)]
    assert "tempo" in captured.err  # the summary moves to stderr when stdout carries JSON


def test_other_formats(song: Path, tmp_path: Path) -> None:
    import soundfile as sf

    audio, sr = sf.read(song, dtype="float32")
    for ext in ("flac", "mp3", "ogg"):
        path = signals.write(tmp_path / f"song.{ext}", audio, sr=sr)
        args = parse(str(path), "--json", str(tmp_path / f"{ext}.json"))
        assert args.handler(args) == 0


@pytest.mark.parametrize(
    "content", [b"", b"not audio\n" * 100, np.random.default_rng(12).bytes(50_000)]
)
def test_corrupt_file_gives_one_line_and_status_1(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "audio_service.commands.analyze", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "bad.mp3" in lines[0]
    assert done.stdout == ""

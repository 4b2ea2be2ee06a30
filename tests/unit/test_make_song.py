"""``audio-service make-test-song``: a seeded synthetic song of the asked length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from audio_service.cli import main
from audio_service.commands.make_song import SR, song


def test_song_is_seeded_and_as_long_as_asked() -> None:
    first = song(6.0, seed=1)
    assert first.shape == (6 * SR,) and first.dtype == np.float32
    assert np.array_equal(first, song(6.0, seed=1))
    assert not np.array_equal(first, song(6.0, seed=2))
    assert 0.85 < float(np.max(np.abs(first))) <= 0.9


def test_the_command_writes_a_wav(tmp_path: Path) -> None:
    out = tmp_path / "song.wav"
    assert main(["make-test-song", str(out), "--seconds", "3"]) == 0
    info = sf.info(str(out))
    assert info.samplerate == SR and info.frames == 3 * SR and info.subtype == "PCM_16"

"""Decoding: every supported container, and a clean DecodeError for everything else."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import psutil
import pytest
import soundfile as sf

from audio_service.analysis import analyze_file, open_audio
from audio_service.errors import AudioTooLong, DecodeError
from tests.support import signals

SR = signals.SR


@pytest.fixture(scope="module")
def stereo() -> np.ndarray:
    left = signals.tone(440.0, 2.0, amplitude=0.3)
    right = signals.white_noise(2.0, seed=8)
    return np.stack([left, right], axis=1)


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory, stereo: np.ndarray) -> Path:
    return signals.write(tmp_path_factory.mktemp("audio") / "a.wav", stereo)


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-y", "-v", "error", *args],
        check=True,
        capture_output=True,
    )


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3", "ogg"])
def test_libsndfile_formats_decode_in_blocks(tmp_path: Path, stereo: np.ndarray, ext: str) -> None:
    path = signals.write(tmp_path / f"a.{ext}", stereo)
    with open_audio(path) as source:
        assert (source.samplerate, source.channels) == (SR, 2)
        blocks = list(source.blocks(10_000))
    assert all(b.dtype == np.float32 and b.ndim == 2 and b.shape[1] == 2 for b in blocks)
    assert max(len(b) for b in blocks) <= 10_000
    total = sum(len(b) for b in blocks)
    assert abs(total - len(stereo)) < 0.05 * SR  # lossy codecs pad a little


def test_m4a_decodes_through_ffmpeg(tmp_path: Path, wav: Path) -> None:
    m4a = tmp_path / "a.m4a"
    ffmpeg("-i", str(wav), "-c:a", "aac", str(m4a))
    with open_audio(m4a) as source:
        assert (source.samplerate, source.channels) == (SR, 2)
        assert source.frames is not None and abs(source.frames - 2 * SR) < 0.1 * SR
        total = sum(len(b) for b in source.blocks())
    assert abs(total - 2 * SR) < 0.1 * SR
    result = analyze_file(m4a)
    assert result["segment_count"] == len(result["segments"]) == 2


def test_closing_mid_stream_ends_ffmpeg(tmp_path: Path, wav: Path) -> None:
    m4a = tmp_path / "a.m4a"
    ffmpeg("-i", str(wav), "-c:a", "aac", str(m4a))
    me = psutil.Process()
    with open_audio(m4a) as source:
        next(iter(source.blocks(1024)))
        assert me.children()
    assert not [p for p in me.children() if p.is_running() and p.status() != "zombie"]


def test_container_without_audio_is_refused(tmp_path: Path) -> None:
    video = tmp_path / "silent-film.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=32x32:d=1", "-c:v", "mpeg4", str(video))
    with pytest.raises(DecodeError, match="no audio"):
        open_audio(video)


def _wav_header(channels: int, samplerate: int, data: bytes = b"\0" * 400) -> bytes:
    block = max(channels, 1) * 2
    fmt = struct.pack(
        "<HHIIHH", 1, channels, samplerate, (samplerate * block) & 0xFFFFFFFF, block, 16
    )
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.wav", b""),
        ("random.mp3", np.random.default_rng(9).bytes(20_000)),
        ("random.wav", np.random.default_rng(10).bytes(20_000)),
        ("text.wav", b"this is not audio at all\n" * 40),
        ("header-only.wav", _wav_header(2, SR, b"")),
        ("zero-channels.wav", _wav_header(0, SR)),
        ("huge-rate.wav", _wav_header(1, 2**31)),
        ("one-hertz.wav", _wav_header(1, 1)),
        ("too-many-channels.wav", _wav_header(20, SR, b"\0" * 800)),
    ],
)
def test_undecodable_files_raise_decode_error(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DecodeError) as caught, open_audio(path) as source:
        for _ in source.blocks():
            pass
    assert name in caught.value.message
    assert "\n" not in caught.value.message


def test_truncated_mp3_that_yields_nothing(tmp_path: Path, stereo: np.ndarray) -> None:
    whole = signals.write(tmp_path / "whole.mp3", stereo)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[:100])
    with pytest.raises(DecodeError):
        analyze_file(cut)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="cannot read"):
        open_audio(tmp_path / "nope.wav")


def test_too_long_from_the_header(wav: Path) -> None:
    with pytest.raises(AudioTooLong):
        open_audio(wav, max_duration=1.0)


def test_too_long_while_decoding(wav: Path) -> None:
    # A stream whose header states no length is only caught by counting decoded frames.
    with open_audio(wav) as source:
        source.frames = None
        source.max_duration = 1.0
        with pytest.raises(AudioTooLong):
            for _ in source.blocks(4096):
                pass


def test_float_wav_keeps_full_scale(tmp_path: Path) -> None:
    audio = signals.tone(1000.0, 1.0, amplitude=0.5)
    path = signals.write(tmp_path / "f.wav", audio, subtype="FLOAT")
    with open_audio(path) as source:
        decoded = np.concatenate(list(source.blocks()))
    assert source.channels == 1
    np.testing.assert_allclose(decoded[:, 0], audio, atol=1e-7)
    assert sf.info(str(path)).subtype == "FLOAT"


def test_webm_opus_decodes_through_ffmpeg(tmp_path: Path, wav: Path) -> None:
    webm = tmp_path / "a.webm"
    ffmpeg("-i", str(wav), "-c:a", "libopus", str(webm))
    with open_audio(webm) as source:
        assert source.samplerate == 48_000  # Opus decodes at 48 kHz
        total = sum(len(b) for b in source.blocks())
    assert abs(total - 2 * 48_000) < 0.1 * 48_000


def test_playlists_and_concat_lists_are_not_followed(tmp_path: Path, wav: Path) -> None:
    import http.server
    import threading

    requests: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        playlist = tmp_path / "list.m3u8"
        playlist.write_text(
            f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{url}/a.ts\n#EXTINF:2,\n{wav}\n"
            "#EXT-X-ENDLIST\n"
        )
        concat = tmp_path / "list.ffconcat"
        concat.write_text(f"ffconcat version 1.0\nfile {url}/b.wav\nfile {wav}\n")
        for path in (playlist, concat):
            with pytest.raises(DecodeError):
                analyze_file(path)
    finally:
        server.shutdown()
        server.server_close()
    assert requests == []


@pytest.mark.parametrize("ext", ["flac", "mp3", "ogg"])
def test_truncated_files_are_analysed_for_what_they_hold(
    tmp_path: Path, stereo: np.ndarray, ext: str
) -> None:
    whole = signals.write(tmp_path / f"whole.{ext}", stereo)
    half = tmp_path / f"half.{ext}"
    data = whole.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    result = analyze_file(half)
    assert 0.3 < result["duration"] < 2.0
    assert result["segment_count"] == len(result["segments"]) >= 1

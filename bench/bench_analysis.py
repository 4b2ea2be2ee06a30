"""Analysis benchmark: ours vs. a floor vs. the public design's per-second sketch.

Run: ``.venv/bin/python bench/bench_analysis.py`` (a few minutes). It writes a seeded,
music-like 5-minute track as WAV and MP3 (and a 30-minute WAV for the memory check) to a
temporary directory, then measures each implementation in a fresh subprocess pinned to one
core (one BLAS/FFT thread), three runs each, and prints medians as a Markdown table:

* ``ours``: ``open_audio`` + ``StreamingAnalyzer`` (push, finish, summary), after
  ``warm_up()`` as a worker does at start.
* ``floor``: decode in the same blocks, downmix, and one windowed FFT pass over all frames of
  the same size and hop; nothing else. No analysis can be cheaper than this.
* ``baseline``: DESIGN.md "The baseline to beat": ``librosa.load`` at 22050 Hz mono,
  1-second chunks, magnitude STFT (n_fft 2048), bands = mean magnitude over bins 0-10,
  10-20, 20-80, 80-160, 160-end divided by the largest, ``librosa.beat.beat_track`` per
  chunk, mean RMS and spectral centroid.

Wall time and time to first segment start when decoding starts (imports and warm-up
excluded); peak memory is the child's peak resident set size (imports included).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SR = 44_100
RUNS = 3
IMPLEMENTATIONS = ("ours", "floor", "baseline")
ONE_THREAD = {
    name: "1"
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
}


def _bar(rng: np.random.Generator, chord: list[float], root: float, *, drums: bool) -> np.ndarray:
    """One 4/4 bar at 120 BPM (2 s) of kick, snare, hats, a pad chord and a bass line."""
    n = 2 * SR
    t = np.arange(n) / SR
    out = np.zeros(n)
    beat = SR // 2
    tail = np.arange(int(0.25 * SR)) / SR
    if drums:
        kick = np.sin(2 * np.pi * (50 * tail + 60 * (1 - np.exp(-tail / 0.03)))) * np.exp(
            -tail / 0.08
        )
        snare = rng.standard_normal(len(tail)) * np.exp(-tail / 0.05) * 0.5
        for b in range(4):
            out[b * beat : b * beat + len(tail)] += 0.8 * kick
            if b % 2:
                out[b * beat : b * beat + len(tail)] += snare
        hat_tail = tail[: int(0.04 * SR)]
        for h in range(8):
            noise = np.diff(rng.standard_normal(len(hat_tail) + 1))
            start = h * beat // 2
            out[start : start + len(hat_tail)] += (
                0.1 * rng.uniform(0.5, 1) * noise * np.exp(-hat_tail / 0.01)
            )
    pad = sum(np.sin(2 * np.pi * f * k * t) / k**1.5 for f in chord for k in range(1, 5))
    out += 0.08 * pad * np.minimum(1, t / 0.1)
    out += 0.25 * np.sign(np.sin(2 * np.pi * root * t)) * np.exp(-(t % 0.5) / 0.2)
    return out


def _hz(midi: int) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


#: (chord notes, bass note) as MIDI numbers: verse Am F C G, chorus F G Am Em (A minor).
VERSE = [((57, 60, 64), 45), ((53, 57, 60), 41), ((60, 64, 67), 48), ((55, 59, 62), 43)]
CHORUS = [((65, 69, 72), 41), ((67, 71, 74), 43), ((69, 72, 76), 45), ((64, 67, 71), 40)]


def music(seconds: float, *, seed: int = 7) -> np.ndarray:
    """A seeded music-like stereo track: 8-bar verses and choruses over 4-chord loops."""
    rng = np.random.default_rng(seed)
    bars = []
    for i in range(int(np.ceil(seconds / 2))):
        chord, root = (CHORUS if (i // 8) % 3 == 2 else VERSE)[i % 4]
        bars.append(_bar(rng, [_hz(m) for m in chord], _hz(root), drums=i >= 4))
    mono = np.concatenate(bars)[: int(seconds * SR)]
    mono = 0.5 * mono / np.max(np.abs(mono))
    stereo = np.stack([mono, np.roll(mono, 200)], axis=1)
    return stereo.astype(np.float32)


def write_tracks(directory: Path) -> dict[str, Path]:
    import soundfile as sf

    track = music(300.0)
    paths = {"WAV": directory / "track.wav", "MP3": directory / "track.mp3"}
    sf.write(paths["WAV"], track, SR, subtype="PCM_16")
    sf.write(paths["MP3"], track, SR)
    long_path = directory / "long.wav"
    with sf.SoundFile(long_path, "w", SR, 2, subtype="PCM_16") as out:
        for _ in range(6):
            out.write(track)
    paths["WAV 30 min"] = long_path
    return paths


# --- the three implementations, run inside a child process --------------------------------


def run_ours(path: Path) -> tuple[float, float]:
    from audio_service.analysis import StreamingAnalyzer, open_audio, warm_up

    warm_up()
    start = time.perf_counter()
    first = None
    with open_audio(path) as source:
        analyzer = StreamingAnalyzer(source.samplerate)
        for block in source.blocks():
            if analyzer.push(block) and first is None:
                first = time.perf_counter() - start
        analyzer.finish()
        analyzer.summary()
    return time.perf_counter() - start, first or float("nan")


def run_floor(path: Path) -> tuple[float, float]:
    import scipy.fft
    from numpy.lib.stride_tricks import sliding_window_view

    from audio_service.analysis import open_audio
    from audio_service.analysis.spectral import frame_length

    start = time.perf_counter()
    first = None
    with open_audio(path) as source:
        n_fft = frame_length(source.samplerate)
        hop = n_fft // 2
        window = np.hanning(n_fft).astype(np.float32)
        mix = np.full(source.channels, 1 / source.channels, dtype=np.float32)
        buffer = np.zeros(0, dtype=np.float32)
        for block in source.blocks():
            buffer = np.concatenate((buffer, block @ mix))
            count = (len(buffer) - n_fft) // hop + 1 if len(buffer) >= n_fft else 0
            for i in range(0, count, 128):
                n = min(128, count - i)
                span = buffer[i * hop : i * hop + (n - 1) * hop + n_fft]
                scipy.fft.rfft(sliding_window_view(span, n_fft)[::hop] * window, axis=1)
            buffer = buffer[count * hop :]
            if first is None and count:
                first = time.perf_counter() - start
    return time.perf_counter() - start, first or float("nan")


def run_baseline(path: Path) -> tuple[float, float]:
    import librosa

    # Pay numba's compilation before the clock starts, as ours pays warm_up().
    noise = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    librosa.beat.beat_track(y=noise, sr=22050)
    librosa.feature.spectral_centroid(y=noise, sr=22050)
    start = time.perf_counter()
    first = None
    y, sr = librosa.load(path, sr=22050, mono=True)
    segments = []
    for i in range(0, len(y), sr):
        chunk = y[i : i + sr]
        if len(chunk) < 2048:
            break
        fft = np.abs(librosa.stft(chunk, n_fft=2048))
        bands = [fft[a:b].mean() for a, b in ((0, 10), (10, 20), (20, 80), (80, 160), (160, None))]
        top = max(bands)
        tempo, beats = librosa.beat.beat_track(y=chunk, sr=sr)
        segments.append(
            {
                "timestamp": i / sr,
                "frequencies": [float(b / top) for b in bands],
                "tempo": float(np.atleast_1d(tempo)[0]),
                "beat_strength": len(beats) / (len(chunk) / sr),
                "rms": float(np.mean(librosa.feature.rms(y=chunk))),
                "centroid": float(np.mean(librosa.feature.spectral_centroid(y=chunk, sr=sr))),
            }
        )
        if first is None:
            first = time.perf_counter() - start
    return time.perf_counter() - start, first or float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM).

    Not ``ru_maxrss``: Linux carries that over from the parent across fork and exec, so every
    child would report at least the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(implementation: str, path: Path) -> None:
    runner = {"ours": run_ours, "floor": run_floor, "baseline": run_baseline}[implementation]
    wall, first = runner(path)
    print(json.dumps({"wall": wall, "first": first, "peak_mb": peak_rss_mb()}))


# --- the parent: run, collect medians, print ----------------------------------------------


def measure(implementation: str, path: Path, runs: int) -> dict[str, float]:
    results = []
    for _ in range(runs):
        env = {**os.environ, **ONE_THREAD, "PYTHONWARNINGS": "ignore"}
        # taskset-like pinning: the child runs on one core only.
        code = (
            "import os, sys; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            f"sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "import bench_analysis as b; "
            f"b.child({implementation!r}, b.Path({str(path)!r}))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_tracks(Path(tmp))
        duration = 300.0
        rows: dict[tuple[str, str], dict[str, float]] = {}
        for fmt in ("WAV", "MP3"):
            for implementation in IMPLEMENTATIONS:
                rows[fmt, implementation] = measure(implementation, paths[fmt], args.runs)
                print(f"  measured {fmt} {implementation}", file=sys.stderr)
        memory = {
            implementation: measure(implementation, paths["WAV 30 min"], 1)
            for implementation in IMPLEMENTATIONS
        }
    print(f"Generated 5-minute track, 44.1 kHz stereo; medians of {args.runs} runs, one core.\n")
    print(
        "| format | implementation | wall (s) | real-time factor | first segment (ms) "
        "| peak RSS (MB) |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for (fmt, implementation), r in rows.items():
        print(
            f"| {fmt} | {implementation} | {r['wall']:.3f} | {duration / r['wall']:.0f}x | "
            f"{1000 * r['first']:.1f} | {r['peak_mb']:.0f} |"
        )
    print("\n| format | ours / floor (target <= 1.5) | baseline / ours (target >= 5) |")
    print("|---|---:|---:|")
    for fmt in ("WAV", "MP3"):
        ours = rows[fmt, "ours"]["wall"]
        print(
            f"| {fmt} | {ours / rows[fmt, 'floor']['wall']:.2f} | "
            f"{rows[fmt, 'baseline']['wall'] / ours:.1f} |"
        )
    print("\nPeak memory, 5-minute vs 30-minute WAV (MB):\n")
    print("| implementation | 5 min | 30 min | 30-min wall (s) |")
    print("|---|---:|---:|---:|")
    for implementation in IMPLEMENTATIONS:
        print(
            f"| {implementation} | {rows['WAV', implementation]['peak_mb']:.0f} | "
            f"{memory[implementation]['peak_mb']:.0f} | {memory[implementation]['wall']:.2f} |"
        )


if __name__ == "__main__":
    main()

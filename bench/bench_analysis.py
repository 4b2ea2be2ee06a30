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

Cold start: the wall time of a fresh ``audio-service analyze FILE`` process (interpreter
start, imports, filter banks, decoding, analysis, summary) against a fresh process of
``bench/cold_floor.py`` (decode with libsndfile, downmix, one windowed FFT per frame, nothing
else imported), both pinned to one core, runs interleaved; medians and their ratio
(target <= 1.5). ``--cold-only`` measures just that (about a minute).
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


def write_tracks(directory: Path, *, long: bool = True) -> dict[str, Path]:
    import soundfile as sf

    track = music(300.0)
    paths = {"WAV": directory / "track.wav", "MP3": directory / "track.mp3"}
    sf.write(paths["WAV"], track, SR, subtype="PCM_16")
    sf.write(paths["MP3"], track, SR)
    if not long:
        return paths
    long_path = directory / "long.wav"
    with sf.SoundFile(long_path, "w", SR, 2, subtype="PCM_16") as out:
        for _ in range(6):
            out.write(track)
    paths["WAV 30 min"] = long_path
    return paths


# --- the three implementations, run inside a child process --------------------------------


class Clock:
    """Wall and CPU time since decoding started, and the wall time of the first segment."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()
        self.first: float | None = None

    def segment_out(self) -> None:
        if self.first is None:
            self.first = time.perf_counter() - self.start

    def result(self) -> dict[str, float]:
        return {
            "wall": time.perf_counter() - self.start,
            "cpu": time.process_time() - self.cpu_start,
            "first": float("nan") if self.first is None else self.first,
        }


def run_ours(path: Path) -> dict[str, float]:
    from audio_service.analysis import StreamingAnalyzer, open_audio, warm_up

    warm_up()
    clock = Clock()
    with open_audio(path) as source:
        analyzer = StreamingAnalyzer(source.samplerate)
        for block in source.blocks():
            if analyzer.push(block):
                clock.segment_out()
        analyzer.finish()
        analyzer.summary()
    return clock.result()


def run_floor(path: Path) -> dict[str, float]:
    import scipy.fft
    from numpy.lib.stride_tricks import as_strided

    from audio_service.analysis import open_audio
    from audio_service.analysis.spectral import frame_length
    from audio_service.analysis.stream import CHUNK_FRAMES

    clock = Clock()
    with open_audio(path) as source:
        n_fft = frame_length(source.samplerate)
        hop = n_fft // 2
        window = np.hanning(n_fft).astype(np.float32)
        mix = np.full(source.channels, 1 / source.channels, dtype=np.float32)
        buffer = np.zeros(n_fft // 2, dtype=np.float32)
        for block in source.blocks():
            buffer = np.concatenate((buffer, block @ mix))
            count = (len(buffer) - n_fft) // hop + 1 if len(buffer) >= n_fft else 0
            frames = as_strided(buffer, shape=(count, n_fft), strides=(4 * hop, 4))
            for i in range(0, count, CHUNK_FRAMES):
                scipy.fft.rfft(frames[i : i + CHUNK_FRAMES] * window, axis=1)
            buffer = buffer[count * hop :]
            if count:
                clock.segment_out()
    return clock.result()


def run_baseline(path: Path) -> dict[str, float]:
    import librosa

    # Pay numba's compilation and the loader's first-call set-up before the clock starts,
    # as ours pays warm_up(): a long-running service pays them once.
    noise = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    librosa.beat.beat_track(y=noise, sr=22050)
    librosa.feature.spectral_centroid(y=noise, sr=22050)
    librosa.load(path, sr=22050, mono=True, duration=1.0)
    clock = Clock()
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
        clock.segment_out()
    return clock.result()


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
    print(json.dumps({**runner(path), "peak_mb": peak_rss_mb()}))


# --- the parent: run, collect medians, print ----------------------------------------------


def _idle_ticks() -> dict[int, int]:
    ticks = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks[int(name[3:])] = int(fields[3])
    return ticks


def idlest_core() -> int:
    """The allowed core that was idle the most over the last 0.2 s (the machine is shared)."""
    before = _idle_ticks()
    time.sleep(0.2)
    after = _idle_ticks()
    allowed = os.sched_getaffinity(0)
    return max(allowed, key=lambda cpu: after.get(cpu, 0) - before.get(cpu, 0))


def run_child(implementation: str, path: Path) -> dict[str, float]:
    """One measurement in a fresh interpreter pinned to one core, one BLAS/FFT thread."""
    env = {**os.environ, **ONE_THREAD, "PYTHONWARNINGS": "ignore"}
    code = (
        f"import os, sys; os.sched_setaffinity(0, {{{idlest_core()}}}); "
        f"sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "import bench_analysis as b; "
        f"b.child({implementation!r}, b.Path({str(path)!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_cold(command: list[str]) -> dict[str, float]:
    """Wall and CPU time of one fresh process pinned to the idlest core, output discarded."""
    env = {**os.environ, **ONE_THREAD, "PYTHONWARNINGS": "ignore"}
    core = idlest_core()
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, command)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime}


def cold_commands(path: Path) -> dict[str, list[str]]:
    """The CLI as a user runs it (the venv's console script), and the floor script."""
    script = Path(sys.executable).with_name("audio-service")
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "audio_service.cli"]
    floor = [sys.executable, str(Path(__file__).with_name("cold_floor.py")), str(path)]
    return {"cli": [*cli, "analyze", str(path)], "floor": floor}


def measure_cold(path: Path, runs: int) -> dict[str, dict[str, float]]:
    """Median fresh-process wall and CPU times of the CLI and the floor, runs interleaved."""
    commands = cold_commands(path)
    times: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(run_cold(command))
    return {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for name, rs in times.items()
    }


def print_cold(cold: dict[str, dict[str, dict[str, float]]], runs: int) -> None:
    print(
        f"\nCold start: fresh processes pinned to one core, medians of {runs} interleaved runs.\n"
    )
    print(
        "| format | `audio-service analyze`, wall (CPU) (s) | floor, wall (CPU) (s) "
        "| CLI / floor, wall (CPU) [target <= 1.5] |"
    )
    print("|---|---:|---:|---:|")
    for fmt, r in cold.items():
        cli, floor = r["cli"], r["floor"]
        print(
            f"| {fmt} | {cli['wall']:.3f} ({cli['cpu']:.3f}) | {floor['wall']:.3f} "
            f"({floor['cpu']:.3f}) | {cli['wall'] / floor['wall']:.2f} "
            f"({cli['cpu'] / floor['cpu']:.2f}) |"
        )


def measure(path: Path, runs: int) -> dict[str, dict[str, float]]:
    """Medians per implementation; runs are interleaved so that load spikes hit all three."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name in IMPLEMENTATIONS}
    for _ in range(runs):
        for name in IMPLEMENTATIONS:
            results[name].append(run_child(name, path))
    return {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for name, rs in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--cold-only", action="store_true", help="only the cold-start rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_tracks(Path(tmp), long=not args.cold_only)
        cold = {fmt: measure_cold(paths[fmt], args.runs) for fmt in ("WAV", "MP3")}
        if args.cold_only:
            print_cold(cold, args.runs)
            return
        rows = {fmt: measure(paths[fmt], args.runs) for fmt in ("WAV", "MP3")}
        long = measure(paths["WAV 30 min"], 1)
    duration = 300.0
    print(f"Generated 5-minute track, 44.1 kHz stereo; medians of {args.runs} interleaved runs,")
    print("each in a fresh process pinned to one core.\n")
    print(
        "| format | implementation | wall (s) | CPU (s) | real-time factor | first segment (ms) "
        "| peak RSS (MB) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for fmt, by_name in rows.items():
        for name, r in by_name.items():
            print(
                f"| {fmt} | {name} | {r['wall']:.3f} | {r['cpu']:.3f} "
                f"| {duration / r['wall']:.0f}x | {1000 * r['first']:.1f} | {r['peak_mb']:.0f} |"
            )
    print(
        "\n| format | ours / floor, wall (CPU) [target <= 1.5] "
        "| baseline / ours, wall (CPU) [target >= 5] |"
    )
    print("|---|---:|---:|")
    for fmt, r in rows.items():
        ours, floor, base = r["ours"], r["floor"], r["baseline"]
        print(
            f"| {fmt} | {ours['wall'] / floor['wall']:.2f} ({ours['cpu'] / floor['cpu']:.2f}) "
            f"| {base['wall'] / ours['wall']:.1f} ({base['cpu'] / ours['cpu']:.1f}) |"
        )
    print("\nPeak memory, 5-minute vs 30-minute WAV:\n")
    print("| implementation | 5 min (MB) | 30 min (MB) | 30-min wall (s) |")
    print("|---|---:|---:|---:|")
    for name in IMPLEMENTATIONS:
        print(
            f"| {name} | {rows['WAV'][name]['peak_mb']:.0f} | {long[name]['peak_mb']:.0f} "
            f"| {long[name]['wall']:.2f} |"
        )
    print_cold(cold, args.runs)


if __name__ == "__main__":
    main()

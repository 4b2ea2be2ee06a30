"""``audio-service make-test-song OUT``: write a short synthetic song to try the service on.

Intro, verse, chorus, bridge and outro in A minor at 120 BPM (chords, bass, drums, a lead
in the chorus), so the charts and the song summary have something to show, with no file of
the user's. Seeded: the same arguments write the same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SR = 44_100
BPM = 120.0
#: A minor: Am, F, C, G (MIDI roots), one bar of four beats each.
PROGRESSION = ((57, "minor"), (53, "major"), (60, "major"), (55, "major"))
PENTATONIC = (69, 72, 74, 76, 79, 81)
#: Section (share of the song, chords, bass, kick, snare, hats, lead).
SECTIONS = (
    (0.15, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0),
    (0.30, 0.7, 0.8, 1.0, 0.6, 0.0, 0.0),
    (0.30, 1.0, 1.0, 1.0, 0.9, 0.5, 0.8),
    (0.13, 0.6, 0.0, 0.0, 0.0, 0.3, 0.0),
    (0.12, 0.4, 0.5, 0.8, 0.0, 0.0, 0.0),
)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("make-test-song", help="write a short synthetic song (WAV)")
    parser.add_argument("output", type=Path, help="where to write it, e.g. song.wav")
    parser.add_argument("--seconds", type=float, default=30.0, help="length (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the lead and noise")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import soundfile as sf

    if not 2.0 <= args.seconds <= 600.0:
        raise SystemExit("make-test-song: --seconds must be between 2 and 600")
    sf.write(str(args.output), song(args.seconds, seed=args.seed), SR, subtype="PCM_16")
    print(f"wrote {args.output} ({args.seconds:g} s, {SR} Hz)")
    return 0


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _note(midi: float, seconds: float, *, harmonics: int, decay: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    wave = sum(np.sin(2 * np.pi * _hz(midi) * k * t) / k for k in range(1, harmonics + 1))
    return np.asarray(wave * np.exp(-t / decay) * np.minimum(1.0, t / 0.01))


def _add(out: np.ndarray, start: float, sound: np.ndarray, gain: float) -> None:
    i = int(start * SR)
    n = min(len(sound), len(out) - i)
    if gain and n > 0:
        out[i : i + n] += gain * sound[:n]


def song(seconds: float, *, seed: int = 0) -> np.ndarray:
    """The song as float32 samples in -1..1, shape (round(seconds * SR),)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(round(seconds * SR))
    beat = 60.0 / BPM
    t = np.arange(int(0.12 * SR)) / SR
    kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-t / 0.03)) * t) * np.exp(-t / 0.08)
    snare = rng.standard_normal(len(t)) * np.exp(-t / 0.05)
    hat = np.diff(rng.standard_normal(len(t) // 3), prepend=0.0) * np.exp(-t[: len(t) // 3] / 0.01)
    start = 0.0
    for share, chords, bass, kicks, snares, hats, lead in SECTIONS:
        end = min(seconds, start + share * seconds)
        beat_index = int(np.ceil(start / beat - 1e-9))
        while beat_index * beat < end:
            at = beat_index * beat
            root, quality = PROGRESSION[(beat_index // 4) % len(PROGRESSION)]
            if beat_index % 4 == 0:
                third = 3 if quality == "minor" else 4
                for interval in (0, third, 7):
                    _add(
                        out,
                        at,
                        _note(root + interval, 4 * beat, harmonics=4, decay=3.0),
                        0.06 * chords,
                    )
            _add(out, at, _note(root - 12, beat, harmonics=2, decay=0.3), 0.25 * bass)
            _add(out, at, kick, 0.6 * kicks)
            if beat_index % 2 == 1:
                _add(out, at, snare, 0.15 * snares)
            for half in (0.0, 0.5):
                _add(out, at + half * beat, hat, 0.2 * hats)
            if lead and rng.random() < 0.7:
                pitch = float(rng.choice(PENTATONIC))
                _add(out, at, _note(pitch, beat, harmonics=3, decay=0.4), 0.12 * lead)
            beat_index += 1
        start = end
    return (0.9 * out / max(1e-9, float(np.max(np.abs(out))))).astype(np.float32)

"""Accuracy regression: a pure-numpy subset of bench/accuracy, scored with mir_eval.

The full benchmark (``python -m bench.accuracy``) renders General MIDI music with FluidSynth;
CI has no FluidSynth, so here a dozen short pieces are synthesised additively with known
truth: drum kits at known tempi (a fast one, a slow one, a triple-meter one), chords in known
keys, a legato melody over slow-attack chords, a tempo change, a digital silence, two
contrasting halves for a section boundary, a pulseless pad and noise. Thresholds
sit just below what the analysis achieves now; raise them as it improves, never lower them
to pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench.accuracy.implementations import ours
from bench.accuracy.score import aggregate, score_piece

from tests.support.signals import NOTE_INDEX, SR, hz, pink_noise, write

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


@dataclass
class Piece:
    name: str
    audio: np.ndarray
    truth: dict[str, Any] = field(default_factory=dict)


def _drum(kind: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.15 * SR)) / SR
    if kind == "kick":
        body = np.sin(2 * np.pi * (50 * t + 40 * 0.03 * (1 - np.exp(-t / 0.03))))
        return 0.9 * body * np.exp(-t / 0.06)
    if kind == "snare":
        noise = rng.standard_normal(len(t)) * np.exp(-t / 0.04)
        return 0.45 * noise + 0.3 * np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.03)
    hat = np.diff(rng.standard_normal(len(t) + 1)) * np.exp(-t / 0.012)
    return 0.12 * hat


def _chord_tone(midi_notes: list[int], seconds: float, *, attack: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    envelope = np.minimum(1, t / attack) * np.exp(-t / 2.5) * np.minimum(1, (seconds - t) / 0.05)
    wave = sum(np.sin(2 * np.pi * hz(n) * k * t) / k**1.5 for n in midi_notes for k in (1, 2, 3, 4))
    return 0.08 * wave * envelope


def band(
    name: str,
    *,
    bpm: float,
    beats_per_bar: int,
    key: str,
    mode: str,
    bars: int,
    seed: int,
    drums: bool = True,
    progression: tuple[int, ...] = (0, 5, 3, 4),
) -> Piece:
    """Kick on 1 (and 3 in 4/4), snare on the backbeat, eighth hats, bass and chords per bar.

    Without drums, bass and a chord struck on each beat.
    """
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    n_beats = bars * beats_per_bar
    out = np.zeros(int((n_beats * period + 2) * SR))
    scale = MAJOR if mode == "major" else MINOR
    tonic = 48 + NOTE_INDEX[key]

    def add(signal: np.ndarray, at: float, gain: float = 1.0) -> None:
        i = max(0, round(at * SR))
        piece = signal[: len(out) - i]
        out[i : i + len(piece)] += gain * piece

    for bar in range(bars):
        degree = progression[bar % len(progression)]
        root = tonic + scale[degree]
        triad = [tonic + 12 * ((degree + k) // 7) + scale[(degree + k) % 7] for k in (0, 2, 4)]
        if mode == "minor" and degree == 4:
            triad[1] += 1  # harmonic minor: the dominant is major
        start = bar * beats_per_bar * period
        add(_chord_tone([root - 12], beats_per_bar * period, attack=0.01), start, 1.6)
        if not drums:
            # Without drums the chord is struck on every beat, as a pianist comps.
            for beat in range(beats_per_bar):
                chord = _chord_tone([n + 12 for n in triad], period, attack=0.01)
                add(chord, start + beat * period, 1.0 if beat == 0 else 0.7)
            continue
        add(_chord_tone([n + 12 for n in triad], beats_per_bar * period, attack=0.02), start)
        for beat in range(beats_per_bar):
            at = start + beat * period
            velocity = rng.uniform(0.8, 1.0)
            if beat == 0 or (beats_per_bar == 4 and beat == 2):
                add(_drum("kick", rng), at, velocity)
            if (beats_per_bar == 4 and beat in (1, 3)) or (beats_per_bar == 3 and beat > 0):
                add(_drum("snare", rng), at, velocity * (0.7 if beats_per_bar == 3 else 1))
            for half in (0.0, 0.5):
                add(_drum("hat", rng), at + half * period, rng.uniform(0.6, 1.0))
    beats = [i * period for i in range(n_beats)]
    truth = {
        "music": True,
        "tempo": bpm,
        "beats": beats,
        "downbeats": beats[::beats_per_bar],
        "meter": beats_per_bar,
        "key": key,
        "mode": mode,
        "boundaries": [],
        "duration": len(out) / SR,
    }
    return Piece(name, (0.8 * out / np.max(np.abs(out))).astype(np.float32), truth)


def joined(name: str, parts: list[Piece], *, silence: float = 0.0) -> Piece:
    """Parts one after another (each cut at its last bar line), digital silence between."""
    audio: list[np.ndarray] = []
    truth: dict[str, Any] = dict(parts[0].truth) | {"beats": [], "downbeats": [], "boundaries": []}
    truth["silences"] = []
    offset, longest = 0.0, 0.0
    for i, part in enumerate(parts):
        if i:
            truth["boundaries"].append(offset)
            if silence:
                truth["silences"].append([offset, offset + silence])
                audio.append(np.zeros(int(silence * SR), dtype=np.float32))
                offset += silence
                truth["boundaries"].append(offset)
        beats = part.truth["beats"]
        length = beats[-1] + beats[1] - beats[0]
        audio.append(part.audio[: round(length * SR)])
        truth["beats"] += [offset + b for b in beats]
        truth["downbeats"] += [offset + b for b in part.truth["downbeats"]]
        if length > longest:
            longest, truth["tempo"] = length, part.truth["tempo"]
        offset += length
    truth["duration"] = offset
    return Piece(name, np.concatenate(audio), truth)


def two_halves(seed: int) -> Piece:
    """Drums and chords in G major, then a drumless section: one boundary in between."""
    kw: dict[str, Any] = {"bpm": 120, "beats_per_bar": 4, "key": "G", "mode": "major", "bars": 8}
    first = band("first", seed=seed, **kw)
    second = band("second", seed=seed, drums=False, progression=(3, 4, 0, 0), **kw)
    second.audio *= 0.7
    return joined("two-halves-G", [first, second])


def legato(name: str, *, bpm: float, key: str, mode: str, bars: int, seed: int) -> Piece:
    """Strings-like chords (slow attack) every two beats under a legato melody in quarters."""
    rng = np.random.default_rng(seed)
    pad = band(name, bpm=bpm, beats_per_bar=4, key=key, mode=mode, bars=bars, seed=seed,
               drums=False)  # fmt: skip
    period = 60.0 / bpm
    scale = MAJOR if mode == "major" else MINOR
    tonic = 60 + NOTE_INDEX[key]
    out = np.zeros(int(bars * 4 * period * SR))
    step = 0
    for beat in range(bars * 4):
        step = int(np.clip(step + rng.choice([-2, -1, 1, 2]), -3, 9))
        pitch = tonic + 12 * (step // 7) + scale[step % 7]
        note = _chord_tone([pitch + 12], period, attack=0.06)
        i = round(beat * period * SR)
        out[i : i + len(note)] += 1.4 * note[: len(out) - i]
        if beat % 2 == 0:
            chord = [tonic + scale[d % 7] - 12 * (d >= 7) for d in (0, 2, 4)]
            swell = _chord_tone(chord, 2 * period, attack=0.25)
            out[i : i + len(swell)] += swell[: len(out) - i]
    pad.audio = (0.8 * out / np.max(np.abs(out))).astype(np.float32)
    return pad


def pulseless_pad(seed: int, seconds: float = 20.0) -> Piece:
    """Inharmonic partials gliding and swelling slowly: no onsets, no pulse, no key."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    out = np.zeros(len(t))
    for _ in range(7):
        glide = 2 ** (rng.normal(0, 0.3) * t / seconds)
        phase = 2 * np.pi * np.cumsum(rng.uniform(120, 800) * glide) / SR
        out += (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.03, 0.08) * t)) * np.sin(phase)
    fade = np.minimum(1, np.minimum(t, seconds - t) / 3)
    return Piece("pulseless-pad", (0.1 * out * fade).astype(np.float32), {"music": False})


def corpus() -> list[Piece]:
    kw = {"key": "C", "mode": "major"}
    return [
        band("pop-C-120", bpm=120, beats_per_bar=4, bars=10, seed=1, **kw),
        band("dnb-Fm-172", bpm=172, beats_per_bar=4, key="F", mode="minor", bars=14, seed=2),
        band("waltz-Bb-3-4-150", bpm=150, beats_per_bar=3, key="A#", mode="major", bars=14, seed=3),
        band("slow-Em-72", bpm=72, beats_per_bar=4, key="E", mode="minor", bars=6, seed=4),
        band(
            "chords-D-96",
            bpm=96,
            beats_per_bar=4,
            key="D",
            mode="major",
            bars=8,
            seed=5,
            drums=False,
        ),
        two_halves(6),
        legato("legato-Am-84", bpm=84, key="A", mode="minor", bars=8, seed=9),
        joined(
            "tempo-change-D-100-to-130",
            [
                band("a", bpm=100, beats_per_bar=4, key="D", mode="major", bars=8, seed=10),
                band("b", bpm=130, beats_per_bar=4, key="D", mode="major", bars=12, seed=11),
            ],
        ),
        joined(
            "gap-Em-110",
            [
                band("a", bpm=110, beats_per_bar=4, key="E", mode="minor", bars=6, seed=12),
                band("b", bpm=110, beats_per_bar=4, key="E", mode="minor", bars=6, seed=13),
            ],
            silence=4.0,
        ),
        pulseless_pad(7),
        Piece("pink-noise", pink_noise(15.0, seed=8), {"music": False}),
    ]


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, float]]:
    directory: Path = tmp_path_factory.mktemp("accuracy")
    out = {}
    for piece in corpus():
        path = write(directory / f"{piece.name}.wav", piece.audio)
        out[piece.name] = score_piece(piece.truth, ours(str(path)))
    return out


def mean(scores: dict[str, dict[str, float]], metric: str) -> float:
    return aggregate(list(scores.values()))[metric]


#: Means the analysis reached when each threshold was last set, minus a small margin; raise
#: them as it improves (issue 10). Misses then: F minor read as Bb minor (0 under MIREX
#: weights) and D major as B minor (relative, 0.3); the legato piece's downbeats; the gap's
#: second edge; the tempo change's boundary off by more than 0.5 s.
THRESHOLDS = {"acc1": 0.95, "acc2": 0.95, "curve": 0.95, "beat_f": 0.93, "downbeat_f": 0.75}
THRESHOLDS |= {"meter": 0.95, "key": 0.78, "bound_f05": 0.5, "bound_f3": 0.72}
THRESHOLDS |= {"control": 0.95, "music_id": 0.95}


@pytest.mark.parametrize("metric", sorted(THRESHOLDS))
def test_metric_at_least_threshold(scores: dict[str, dict[str, float]], metric: str) -> None:
    value = mean(scores, metric)
    detail = {name: row.get(metric) for name, row in scores.items()}
    assert value >= THRESHOLDS[metric], f"{metric} = {value:.3f} < {THRESHOLDS[metric]}: {detail}"

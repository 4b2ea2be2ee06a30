"""Generated test signals with known answers (seeded, no files committed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44_100

NOTE_INDEX = {"C": 0, "C#": 1, "D": 2, "D#": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "G#": 8, "A": 9}
NOTE_INDEX |= {"A#": 10, "B": 11}


def hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def tone(freq: float, seconds: float, *, sr: int = SR, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def white_noise(seconds: float, *, seed: int, sr: int = SR, rms: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rms * rng.standard_normal(int(seconds * sr))).astype(np.float32)


def pink_noise(seconds: float, *, seed: int, sr: int = SR, rms: float = 0.1) -> np.ndarray:
    """Pink noise (power density 1/f) band-limited to 20 Hz - 20 kHz."""
    n = int(seconds * sr)
    rng = np.random.default_rng(seed)
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    freqs = np.fft.rfftfreq(n, 1 / sr)
    keep = (freqs >= 20) & (freqs <= 20_000)
    spectrum[~keep] = 0
    spectrum[keep] /= np.sqrt(freqs[keep])
    x = np.fft.irfft(spectrum, n)
    return (rms * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def _kick(sr: int) -> np.ndarray:
    t = np.arange(int(0.12 * sr)) / sr
    # Pitch falls from 85 to 55 Hz, as a kick drum's does.
    body = np.sin(2 * np.pi * (55 * t + 30 * 0.03 * (1 - np.exp(-t / 0.03))))
    click = np.random.default_rng(0).standard_normal(len(t)) * np.exp(-t / 0.004)
    return 0.6 * body * np.exp(-t / 0.05) + 0.3 * click


def beat_track(regions: list[tuple[float, float]], *, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Kick drums at each region's tempo: ``[(bpm, seconds), ...]``, with quiet noise under."""
    total = sum(seconds for _, seconds in regions)
    out = np.zeros(int(total * sr) + sr)
    kick = _kick(sr)
    t, region_start = 0.0, 0.0
    for bpm, seconds in regions:
        while t < region_start + seconds:
            i = round(t * sr)
            out[i : i + len(kick)] += kick
            t += 60.0 / bpm
        region_start += seconds
    out = out[: int(total * sr)]
    out += 0.003 * np.random.default_rng(seed).standard_normal(len(out))
    return out.astype(np.float32)


def chord_progression(
    key: str, mode: str, *, seconds_per_chord: float = 1.0, repeats: int = 2, sr: int = SR
) -> np.ndarray:
    """I-IV-V-I (major) or i-iv-V-i (minor) with harmonic-rich tones, root in octave 4."""
    tonic = 60 + NOTE_INDEX[key]
    third = 4 if mode == "major" else 3
    sub_third = 4 if mode == "major" else 3
    chords = [
        (0, third, 7),
        (5, 5 + sub_third, 12),
        (7, 11, 14),  # the dominant is major in both modes (harmonic minor)
        (0, third, 7),
    ]
    t = np.arange(int(seconds_per_chord * sr)) / sr
    envelope = np.minimum(1, t / 0.02) * np.exp(-t / 1.5)
    parts = []
    for _ in range(repeats):
        for chord in chords:
            notes = [tonic + step for step in chord] + [tonic - 12 + chord[0]]
            wave = sum(
                np.sin(2 * np.pi * hz(note) * k * t) / k**2 for note in notes for k in range(1, 5)
            )
            parts.append(0.1 * wave * envelope)
    return np.concatenate(parts).astype(np.float32)


def write(path: Path, audio: np.ndarray, *, sr: int = SR, **kwargs: object) -> Path:
    sf.write(path, audio, sr, **kwargs)
    return path


def _noise_hit(seconds: float, decay: float, *, sr: int, seed: int, highpass: bool) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    noise = np.random.default_rng(seed).standard_normal(len(t))
    if highpass:
        noise = np.diff(noise, prepend=0.0)  # tilts the spectrum up, as a hi-hat's is
    return noise * np.exp(-t / decay)


def drum_pattern(
    bpm: float, seconds: float, pattern: dict[str, list[float]], *, sr: int = SR, seed: int = 0
) -> np.ndarray:
    """A one-bar drum loop repeated: ``pattern`` maps "kick", "snare", "hat" to the beat
    positions (0-based, fractions allowed) of their hits within a 4-beat bar."""
    out = np.zeros(int(seconds * sr) + sr)
    sounds = {
        "kick": _kick(sr),
        "snare": 0.25 * _noise_hit(0.15, 0.04, sr=sr, seed=1, highpass=False)
        + 0.3
        * np.sin(2 * np.pi * 190 * np.arange(int(0.15 * sr)) / sr)
        * np.exp(-np.arange(int(0.15 * sr)) / sr / 0.03),
        "hat": 0.08 * _noise_hit(0.05, 0.01, sr=sr, seed=2, highpass=True),
    }
    beat = 60.0 / bpm
    bar = 0.0
    while bar < seconds:
        for name, positions in pattern.items():
            for position in positions:
                i = round((bar + position * beat) * sr)
                if i < int(seconds * sr):
                    out[i : i + len(sounds[name])] += sounds[name][: len(out) - i]
        bar += 4 * beat
    out = out[: int(seconds * sr)]
    out += 0.003 * np.random.default_rng(seed).standard_normal(len(out))
    return out.astype(np.float32)


def legato_chords(
    key: str, bpm: float, seconds: float, *, beats_per_chord: int = 1, sr: int = SR
) -> np.ndarray:
    """Sustained organ-like chords (no attack transient, 60 ms rise) changing with the beat:
    I-vi-IV-V in a major key, no percussion."""
    tonic = 60 + NOTE_INDEX[key]
    chords = [(0, 4, 7), (-3, 0, 4), (-7, -3, 0), (-5, -1, 2)]
    length = beats_per_chord * 60.0 / bpm
    n = int(length * sr)
    t = np.arange(n) / sr
    ramp = np.minimum(1.0, t / 0.06) * np.minimum(1.0, (length - t) / 0.02)
    parts, i = [], 0
    while len(parts) * length < seconds:
        notes = [tonic + step for step in chords[i % 4]] + [tonic - 12 + chords[i % 4][0]]
        wave = sum(np.sin(2 * np.pi * hz(note) * k * t) / k for note in notes for k in range(1, 6))
        parts.append(0.05 * wave * ramp)
        i += 1
    return np.concatenate(parts)[: int(seconds * sr)].astype(np.float32)

"""Non-music controls: speech (espeak-ng), noise, a pulseless pad, a sustained tone, rain.

None of them has a tempo or a key; an honest analyser says so (or gives low confidence).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SR = 44_100

SPEECH = (
    "The committee met on Tuesday to discuss the new budget for the library.",
    "Several members asked why the roof repairs had been delayed again this year.",
    "After a long debate, they agreed to publish the figures before the next meeting.",
    "Visitors may borrow up to twelve books, three films and two magazines at a time.",
    "Please remember that the reading room closes early on public holidays.",
    "The weather tomorrow will be cloudy in the morning, with light rain spreading east.",
    "Temperatures will reach about fourteen degrees, falling to six overnight.",
)


def speech(seed: int, seconds: float = 40.0) -> np.ndarray:
    """Sentences read by two espeak-ng voices at varied rates, with natural pauses."""
    rng = np.random.default_rng(seed)
    pieces: list[np.ndarray] = []
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        i = 0
        while total < seconds * SR:
            path = Path(tmp) / f"{i}.wav"
            voice = ("en-us", "en-gb")[i % 2]
            rate = str(int(rng.integers(140, 175)))
            pitch = str(int(rng.integers(35, 65)))
            text = SPEECH[i % len(SPEECH)]
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", rate, "-p", pitch, "-w", str(path), text],
                check=True,
                capture_output=True,
            )
            audio, sr = sf.read(path, dtype="float32")
            audio = resample_poly(audio, SR, sr).astype(np.float32)
            pause = np.zeros(int(rng.uniform(0.3, 1.2) * SR), dtype=np.float32)
            pieces += [audio, pause]
            total += len(audio) + len(pause)
            i += 1
    out = np.concatenate(pieces)[: int(seconds * SR)]
    return 0.5 * out / np.max(np.abs(out))


def pink_noise(seed: int, seconds: float = 30.0) -> np.ndarray:
    """Pink noise (power 1/f) from 20 Hz to 20 kHz."""
    n = int(seconds * SR)
    rng = np.random.default_rng(seed)
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    freqs = np.fft.rfftfreq(n, 1 / SR)
    keep = (freqs >= 20) & (freqs <= 20_000)
    spectrum[~keep] = 0
    spectrum[keep] /= np.sqrt(freqs[keep])
    x = np.fft.irfft(spectrum, n)
    return (0.2 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def pulseless_pad(seed: int, seconds: float = 45.0) -> np.ndarray:
    """Inharmonic partials gliding and swelling slowly: no onsets, no pulse, no tonic."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    out = np.zeros(n)
    control = np.linspace(0, 1, 64)
    for _ in range(9):
        # A random walk of log-frequency, smoothed onto the sample grid.
        walk = np.cumsum(rng.normal(0, 0.08, len(control)))
        freq = rng.uniform(110, 900) * 2 ** np.interp(t / seconds, control, walk)
        swell = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.02, 0.07) * t + rng.uniform(0, 6))
        phase = 2 * np.pi * np.cumsum(freq) / SR
        out += swell * np.sin(phase) / 9
    fade = np.minimum(1, np.minimum(t, seconds - t) / 4)
    return (0.5 * out * fade / np.max(np.abs(out))).astype(np.float32)


def sustained_tone(seed: int, seconds: float = 30.0) -> np.ndarray:
    """One organ-like note (A3 with harmonics) held throughout, with a slow tremolo."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    wave = sum(np.sin(2 * np.pi * 220.0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 7))
    tremolo = 1 + 0.05 * np.sin(2 * np.pi * 0.3 * t)
    fade = np.minimum(1, np.minimum(t, seconds - t) / 1.5)
    return (0.25 * wave * tremolo * fade).astype(np.float32)


def rain(seed: int, seconds: float = 30.0) -> np.ndarray:
    """Drops at random (Poisson) times over a noise bed: many onsets, no pulse."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = 0.02 * rng.standard_normal(n)
    drop_t = np.arange(int(0.03 * SR)) / SR
    for when in np.cumsum(rng.exponential(0.09, int(seconds / 0.09) * 2)):
        i = int(when * SR)
        if i >= n - len(drop_t):
            break
        drop = rng.standard_normal(len(drop_t)) * np.exp(-drop_t / rng.uniform(0.002, 0.01))
        out[i : i + len(drop_t)] += rng.uniform(0.05, 0.4) * drop
    return (0.5 * out / np.max(np.abs(out))).astype(np.float32)


CONTROLS = {
    "speech": speech,
    "pink-noise": pink_noise,
    "pulseless-pad": pulseless_pad,
    "sustained-tone": sustained_tone,
    "rain": rain,
}

"""Bands hold the real power in their Hz ranges; the 0..1 scale and dB values are documented."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audio_service.analysis import StreamingAnalyzer
from audio_service.analysis.spectral import BANDS
from tests.support import signals


def analyse(audio: np.ndarray, sr: int = signals.SR) -> list[dict[str, object]]:
    analyzer = StreamingAnalyzer(sr)
    return analyzer.push(audio) + analyzer.finish()


@pytest.mark.parametrize(
    ("freq", "band"),
    [
        (100, "bass"),
        (300, "low_mid"),
        (1000, "mid"),
        (3000, "high_mid"),
        (6000, "high"),
        (15000, "high"),
    ],
)
def test_a_tone_is_loudest_in_its_band(freq: float, band: str) -> None:
    segment = analyse(signals.tone(freq, 3.0))[1]
    levels = segment["frequencies_db"]
    assert isinstance(levels, dict)
    assert max(levels, key=levels.get) == band
    # A 0.5-amplitude sine has a mean square of 0.125: -9.03 dBFS, all of it in one band.
    assert levels[band] == pytest.approx(-9.03, abs=0.1)
    others = [level for name, level in levels.items() if name != band]
    assert max(others) < levels[band] - 40


def test_tone_level_on_the_0_to_1_scale() -> None:
    segment = analyse(signals.tone(1000, 3.0))[1]
    # (dB + 60) / 60: -9.03 dB -> 0.8495.
    assert segment["frequencies"]["mid"] == pytest.approx((60 - 9.03) / 60, abs=0.002)  # type: ignore[index]
    assert segment["frequencies"]["bass"] == 0.0  # type: ignore[index]
    assert segment["loudness_db"] == pytest.approx(-9.03, abs=0.05)


def _relative_db(segment: dict[str, object]) -> dict[str, float]:
    levels = segment["frequencies_db"]
    assert isinstance(levels, dict)
    total = float(segment["loudness_db"])  # type: ignore[arg-type]
    return {name: float(level) - total for name, level in levels.items()}


def test_white_noise_band_power_is_proportional_to_bandwidth() -> None:
    segments = analyse(signals.white_noise(4.0, seed=1))
    nyquist = signals.SR / 2
    for segment in segments[1:3]:
        relative = _relative_db(segment)
        for name, (low, high) in BANDS.items():
            expected = 10 * math.log10((min(high, nyquist) - low) / nyquist)
            assert relative[name] == pytest.approx(expected, abs=1.0), name


def test_pink_noise_has_equal_power_per_octave() -> None:
    segments = analyse(signals.pink_noise(4.0, seed=2))
    decades = math.log(20_000 / 20)
    for segment in segments[1:3]:
        relative = _relative_db(segment)
        for name, (low, high) in BANDS.items():
            expected = 10 * math.log10(math.log(high / low) / decades)
            assert relative[name] == pytest.approx(expected, abs=1.5), name
        # The documented balance: bass > high > mid > low_mid ~ high_mid.
        assert relative["bass"] > relative["high"] > relative["low_mid"]


def test_bands_use_hz_at_the_files_own_rate() -> None:
    # At 22.05 kHz a 6 kHz tone is still "high", and nothing can exist above 11 kHz.
    sr = 22_050
    segment = analyse(signals.tone(6000, 3.0, sr=sr), sr)[1]
    levels = segment["frequencies_db"]
    assert isinstance(levels, dict)
    assert max(levels, key=levels.get) == "high"
    at_48k = analyse(signals.tone(15000, 3.0, sr=48_000), 48_000)[1]["frequencies_db"]
    assert isinstance(at_48k, dict)
    assert max(at_48k, key=at_48k.get) == "high"


def test_spectral_centroid_of_a_tone_is_its_frequency() -> None:
    segment = analyse(signals.tone(1000, 3.0))[1]
    assert segment["spectral_centroid"] == pytest.approx(1000, rel=0.01)

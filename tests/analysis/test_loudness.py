"""BS.1770-4 loudness: against pyloudnorm, the standard's own numbers, and block independence."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import scipy.signal

from audio_service.analysis.features import DB_FLOOR
from audio_service.analysis.iir import modal_filter
from audio_service.analysis.loudness import LoudnessMeter, k_weighting, loudness
from tests.support import signals

#: Agreement asked of us with pyloudnorm (its K-weighting filters are derived a little
#: differently, which alone accounts for about 0.05 LU).
TOLERANCE_LU = 0.1


def sine(freq: float, seconds: float, sr: int, amplitude: float) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return amplitude * np.sin(2 * np.pi * freq * t)


def reference(audio: np.ndarray, sr: int) -> float:
    return float(pyloudnorm.Meter(sr).integrated_loudness(np.asarray(audio, dtype=np.float64)))


@pytest.mark.parametrize("sr", [44_100, 48_000])
@pytest.mark.parametrize("freq", [60.0, 440.0, 1000.0, 5000.0, 12_000.0])
@pytest.mark.parametrize("amplitude", [0.7, 0.03])
def test_sines_match_pyloudnorm(sr: int, freq: float, amplitude: float) -> None:
    audio = sine(freq, 6.0, sr, amplitude)
    assert loudness(audio, sr) == pytest.approx(reference(audio, sr), abs=TOLERANCE_LU)


@pytest.mark.parametrize("sr", [44_100, 48_000])
def test_noise_matches_pyloudnorm(sr: int) -> None:
    for audio in (
        signals.white_noise(8.0, seed=3, sr=sr, rms=0.2),
        signals.pink_noise(8.0, seed=4, sr=sr, rms=0.05),
    ):
        assert loudness(audio, sr) == pytest.approx(reference(audio, sr), abs=TOLERANCE_LU)


@pytest.mark.parametrize("sr", [44_100, 48_000])
def test_stereo_with_different_channels_matches_pyloudnorm(sr: int) -> None:
    left = sine(220.0, 8.0, sr, 0.4)
    right = signals.pink_noise(8.0, seed=5, sr=sr, rms=0.02)
    audio = np.stack([left, right], axis=1)
    assert loudness(audio, sr) == pytest.approx(reference(audio, sr), abs=TOLERANCE_LU)
    # Channels add as powers, unlike a mono mix (which would cancel anti-phase channels).
    assert loudness(np.stack([left, -left], axis=1), sr) == pytest.approx(
        loudness(left, sr) + 10 * np.log10(2), abs=0.01
    )


def test_five_channels_weigh_the_surrounds_as_pyloudnorm_does() -> None:
    sr = 48_000
    audio = np.stack([sine(300.0 * (c + 1), 6.0, sr, 0.05 * (c + 1)) for c in range(5)], axis=1)
    assert loudness(audio, sr) == pytest.approx(reference(audio, sr), abs=TOLERANCE_LU)


@pytest.mark.parametrize("sr", [44_100, 48_000])
def test_silence_and_quiet_gaps_are_gated_as_pyloudnorm_does(sr: int) -> None:
    audio = sine(1000.0, 20.0, sr, 0.3)
    audio[3 * sr : 9 * sr] = 0.0  # digital silence: below the absolute gate
    audio[12 * sr : 15 * sr] *= 0.01  # -40 dB: above -70 LUFS, below the relative gate
    ours = loudness(audio, sr)
    assert ours == pytest.approx(reference(audio, sr), abs=TOLERANCE_LU)
    # Both quiet parts are gated out: only the blocks straddling their edges pull the result
    # below the tone's own loudness (without gates it would be 10 log10(11/20) = 2.6 dB below).
    tone = loudness(sine(1000.0, 6.0, sr, 0.3), sr)
    assert tone - 0.5 < ours < tone


def test_a_full_scale_1khz_sine_reads_minus_3_01_lufs() -> None:
    # BS.1770-4: a 0 dBFS 1 kHz sine in one front channel reads -3.01 LKFS.
    assert loudness(sine(1000.0, 5.0, 48_000, 1.0), 48_000) == pytest.approx(-3.01, abs=0.02)


def test_filters_at_48khz_are_the_standards_table() -> None:
    (shelf_b, shelf_a), (high_b, high_a) = k_weighting(48_000)
    table_shelf_b = [1.53512485958697, -2.69169618940638, 1.19839281085285]
    table_shelf_a = [1.0, -1.69065929318241, 0.73248077421585]
    table_high_a = [1.0, -1.99004745483398, 0.99007225036621]
    np.testing.assert_allclose(shelf_b, table_shelf_b, atol=1e-8)
    np.testing.assert_allclose(shelf_a, table_shelf_a, atol=1e-8)
    np.testing.assert_allclose(high_b, [1.0, -2.0, 1.0])
    np.testing.assert_allclose(high_a, table_high_a, atol=1e-8)


@pytest.mark.parametrize("sr", [8_000, 22_050, 44_100, 96_000])
def test_the_block_filter_equals_a_direct_form_recursion(sr: int) -> None:
    sections = k_weighting(sr)
    sos = np.array([np.concatenate((b, a)) for b, a in sections])
    x = np.random.default_rng(1).standard_normal((2, 3 * 65_536 + 17)).astype(np.float32)
    expected = scipy.signal.sosfilt(sos, x.astype(np.float64), axis=1)
    bank = modal_filter(sections)
    state = bank.initial_state(2)
    out = []
    for block in np.array_split(x, [1, 3, 64, 1000, 1033, 70_000, 140_000], axis=1):
        y, state = bank.process(np.ascontiguousarray(block.T), state)
        out.append(y)
    np.testing.assert_allclose(np.concatenate(out, axis=1), expected, atol=2e-5 * expected.std())


def test_odd_block_sizes_give_the_whole_signals_loudness() -> None:
    sr = 44_100
    audio = np.stack(
        [signals.pink_noise(9.3, seed=6, rms=0.1), sine(440.0, 9.3, sr, 0.2)], axis=1
    ).astype(np.float32)
    whole = LoudnessMeter(sr)
    whole.push(audio)
    whole.finish()
    streamed = LoudnessMeter(sr)
    rng = np.random.default_rng(7)
    position = 0
    while position < len(audio):
        size = int(rng.integers(1, 9_000))
        streamed.push(audio[position : position + size])
        position += size
    streamed.finish()
    assert streamed.steps == whole.steps == 93
    assert streamed.integrated() == pytest.approx(whole.integrated(), abs=1e-4)
    for second in range(10):
        a, b = streamed.second(second), whole.second(second)
        assert a.lufs == pytest.approx(b.lufs, abs=1e-4)
        assert a.momentary == pytest.approx(b.momentary, abs=1e-4)
        assert a.short_term == pytest.approx(b.short_term, abs=1e-4)


def test_momentary_short_term_and_per_second_values() -> None:
    sr = 48_000
    steady = sine(1000.0, 10.0, sr, 0.1)
    level = loudness(steady, sr)
    burst = steady.copy()
    burst[int(5.3 * sr) : int(5.7 * sr)] *= 10.0  # +20 dB for exactly one 400 ms window
    meter = LoudnessMeter(sr)
    meter.push(burst)
    meter.finish()
    quiet, loud = meter.second(2), meter.second(5)
    assert quiet.lufs == pytest.approx(level, abs=0.01)
    assert quiet.momentary == pytest.approx(level, abs=0.01)
    assert quiet.short_term == pytest.approx(level, abs=0.01)
    assert loud.momentary == pytest.approx(level + 20.0, abs=0.05)
    # The 3 s short-term window ending at 6 s holds the 400 ms burst: +20 dB for 2/15 of it.
    expected = level + 10 * np.log10((13 + 2 * 100) / 15)
    assert loud.short_term == pytest.approx(expected, abs=0.05)
    # The first second's windows cover what there is, so it does not read low.
    assert meter.second(0).short_term == pytest.approx(level, abs=0.05)


def test_a_time_range_and_silence() -> None:
    sr = 44_100
    audio = np.concatenate([sine(500.0, 4.0, sr, 0.3), sine(500.0, 4.0, sr, 0.03)])
    meter = LoudnessMeter(sr)
    meter.push(audio)
    meter.finish()
    # A range of a continuous signal differs from the same samples measured alone only by
    # the filters' memory of what came before (a few ms).
    assert meter.integrated(4.0, 8.0) == pytest.approx(loudness(audio[4 * sr :], sr), abs=0.01)
    assert meter.integrated(0.0, 4.0) == pytest.approx(loudness(audio[: 4 * sr], sr), abs=1e-6)
    assert meter.integrated() == pytest.approx(
        meter.integrated(0.0, 4.0), abs=0.2
    )  # quiet half gated
    assert meter.integrated(7.9, 8.0) == DB_FLOOR  # shorter than one 400 ms block
    assert loudness(np.zeros(sr), sr) == DB_FLOOR
    silent = LoudnessMeter(sr)
    silent.push(np.zeros((sr, 2), dtype=np.float32))
    silent.finish()
    assert silent.second(0).momentary == DB_FLOOR


def test_nan_in_a_damaged_block_does_not_poison_the_meter() -> None:
    sr = 44_100
    tone = sine(1000.0, 4.0, sr, 0.1).astype(np.float32)
    damaged = tone.copy()
    damaged[sr + 10] = np.nan
    meter = LoudnessMeter(sr)
    meter.push(damaged[: 2 * sr])
    meter.push(damaged[2 * sr :])
    meter.finish()
    assert meter.second(3).lufs == pytest.approx(loudness(tone, sr), abs=0.01)
    assert np.isfinite(meter.integrated())


def test_the_channel_count_cannot_change_mid_stream() -> None:
    meter = LoudnessMeter(44_100)
    meter.push(np.zeros((100, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="channels"):
        meter.push(np.zeros((100, 1), dtype=np.float32))

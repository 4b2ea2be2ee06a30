"""Loudness after ITU-R BS.1770-4, measured while the audio streams in.

* K-weighting: the standard's two biquads, a high shelf (+4 dB above about 1.7 kHz, the
  head's effect) and a high-pass at about 38 Hz (the "RLB" curve). BS.1770 tabulates them at
  48 kHz only; like libebur128 and pyloudnorm we derive them for any sample rate from their
  analogue prototypes (centre frequency, Q, gain) by the bilinear transform with the
  frequency pre-warped, which reproduces the 48 kHz table.
* Mean square per channel, summed with the channel weights G (1 for left, right and centre,
  1.41 for the surround channels, 0 for LFE), loudness = -0.691 + 10 log10 of that sum.
* Momentary loudness over 400 ms and short-term over 3 s (EBU Tech 3341), both sliding in
  100 ms steps: the meter keeps the weighted sum of squares of every 100 ms step.
* Integrated loudness over the 400 ms blocks that overlap by 75 % (one per step), gated at
  -70 LUFS and then at 10 LU below the mean of the blocks that passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from audio_service.analysis.features import DB_FLOOR
from audio_service.analysis.iir import CHUNK, Biquad, ModalFilter, modal_filter

#: BS.1770's offset between 10 log10 of the weighted mean square and LUFS.
LUFS_OFFSET = -0.691
#: Blocks quieter than this never count (BS.1770-4 absolute gate), LUFS.
ABSOLUTE_GATE_LUFS = -70.0
#: ... nor blocks this far below the level of those above the absolute gate, LU.
RELATIVE_GATE_LU = -10.0
#: 100 ms steps: the 400 ms gating blocks overlap by 75 %.
STEPS_PER_SECOND = 10
#: Momentary loudness and gating blocks: 400 ms; short-term loudness: 3 s (EBU Tech 3341).
BLOCK_STEPS = 4
SHORT_TERM_STEPS = 30
#: Samples (all channels) filtered at a time: the block, its filtered copy and the work
#: matrix then stay in the L2 cache; 65,536-frame stereo blocks at once measured 2x slower.
PIECE_SAMPLES = 1 << 16
#: Samples beyond +-8 (+18 dBFS) only come from damaged files: they are clipped there.
MAX_SAMPLE = 8.0
#: Channel weight of the surround channels (Ls, Rs), BS.1770-4 Table 3.
SURROUND_WEIGHT = 1.41

# Analogue prototypes of the two K-weighting stages (the constants libebur128 publishes,
# fitted to the BS.1770 48 kHz coefficients): centre frequency (Hz), Q, shelf gain (dB).
SHELF_HZ, SHELF_Q, SHELF_GAIN_DB = 1681.974450955533, 0.7071752369554196, 3.999843853973347
#: Exponent of the shelf's mid-band gain, sqrt(Vh) up to the fit.
SHELF_MID_EXPONENT = 0.4996667741545416
HIGHPASS_HZ, HIGHPASS_Q = 38.13547087602444, 0.5003270373238773


def k_weighting(samplerate: int) -> list[Biquad]:
    """The two K-weighting biquads at ``samplerate`` (Hz): [(b, a) shelf, (b, a) high-pass].

    Bilinear transform with pre-warping: ``K = tan(pi f0 / fs)`` maps the prototype's
    ``s / w0`` onto ``(z - 1) / (K (z + 1))``.
    """
    k = math.tan(math.pi * SHELF_HZ / samplerate)
    vh = 10 ** (SHELF_GAIN_DB / 20)
    vb = vh**SHELF_MID_EXPONENT
    norm = 1 + k / SHELF_Q + k * k
    shelf_b = np.array(
        [vh + vb * k / SHELF_Q + k * k, 2 * (k * k - vh), vh - vb * k / SHELF_Q + k * k]
    )
    shelf_a = np.array([norm, 2 * (k * k - 1), 1 - k / SHELF_Q + k * k])
    k = math.tan(math.pi * HIGHPASS_HZ / samplerate)
    norm = 1 + k / HIGHPASS_Q + k * k
    highpass_b = np.array([1.0, -2.0, 1.0])
    highpass_a = np.array([norm, 2 * (k * k - 1), 1 - k / HIGHPASS_Q + k * k])
    return [(shelf_b / shelf_a[0], shelf_a / shelf_a[0]), (highpass_b, highpass_a / norm)]


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770 weights G of each channel, assuming the WAVE/SMPTE channel order.

    Five channels are L R C Ls Rs, six are L R C LFE Ls Rs (LFE not counted); any other
    count weighs every channel 1 (mono, stereo, or a layout the file does not tell us).
    """
    weights = np.ones(channels)
    if channels == 5:
        weights[3:] = SURROUND_WEIGHT
    elif channels == 6:
        weights[3] = 0.0
        weights[4:] = SURROUND_WEIGHT
    return weights


def to_lufs(power: float) -> float:
    """Channel-weighted mean square to LUFS, floored at ``DB_FLOOR`` (silence is not -inf)."""
    if power <= 0 or not math.isfinite(power):
        return DB_FLOOR
    return max(LUFS_OFFSET + 10 * math.log10(power), DB_FLOOR)


def integrated_loudness(block_powers: np.ndarray) -> float:
    """Gated loudness of 400 ms blocks (BS.1770-4, section 2.8), LUFS.

    Parameters
    ----------
    block_powers : np.ndarray, shape (n_blocks,)
        Channel-weighted mean square of each block (75 % overlap), e.g. from
        :meth:`LoudnessMeter.block_powers`.

    Returns
    -------
    float
        LUFS; ``DB_FLOOR`` when no block passes the absolute gate.
    """
    powers = np.asarray(block_powers, dtype=np.float64)
    with np.errstate(divide="ignore"):
        levels = LUFS_OFFSET + 10 * np.log10(powers)
    gated = powers[levels > ABSOLUTE_GATE_LUFS]
    if len(gated) == 0:
        return DB_FLOOR
    relative = to_lufs(float(gated.mean())) + RELATIVE_GATE_LU
    gated = powers[(levels > ABSOLUTE_GATE_LUFS) & (levels > relative)]
    return to_lufs(float(gated.mean()))


@dataclass(frozen=True, slots=True)
class SecondLoudness:
    """Loudness of one segment, LUFS (``DB_FLOOR`` for silence)."""

    lufs: float  #: the segment's own samples
    momentary: float  #: the largest 400 ms momentary loudness ending within the segment
    short_term: float  #: the 3 s short-term loudness ending at the segment's end


class LoudnessMeter:
    """Streaming BS.1770-4 meter: push blocks of any size, read loudness per step or range.

    At the start of the audio the momentary and short-term windows are shorter than
    400 ms and 3 s (they cover what there is), so the first second does not read low.

    Parameters
    ----------
    samplerate : int
        Sample rate of every pushed block (Hz).
    """

    def __init__(self, samplerate: int) -> None:
        self.samplerate = int(samplerate)
        self._filter: ModalFilter = modal_filter(k_weighting(self.samplerate))
        self._state: np.ndarray | None = None
        self._piece = PIECE_SAMPLES
        self._scratch: tuple[np.ndarray, np.ndarray] = self._filter.buffers(0, 1)
        self._weights = np.ones(1)
        self._position = 0
        # Weighted sum of squares and sample count of each closed 100 ms step (lists: the
        # per-second windows sum a few of them, which is faster on floats than on arrays).
        self._sums: list[float] = []
        self._counts: list[int] = []
        self._steps = 0
        self._full_steps = 0
        self._partial = 0.0

    @property
    def steps(self) -> int:
        """100 ms steps measured so far (the last may be short, after :meth:`finish`)."""
        return self._steps

    def push(self, block: np.ndarray) -> None:
        """Add samples, shape (n,) or (n, channels), full-scale floats."""
        data = np.asarray(block, dtype=np.float32)
        if data.ndim == 1:
            data = data[:, None]
        if len(data) == 0:
            return
        if self._state is not None and data.shape[1] != self._state.shape[0]:
            raise ValueError(
                f"a block of {data.shape[1]} channels after blocks of {self._state.shape[0]}"
            )
        if self._state is None:
            self._state = self._filter.initial_state(data.shape[1])
            self._weights = channel_weights(data.shape[1])
            self._piece = max(CHUNK, PIECE_SAMPLES // data.shape[1])
            self._scratch = self._filter.buffers(self._piece, data.shape[1])
        for start in range(0, len(data), self._piece):
            self._push(np.ascontiguousarray(data[start : start + self._piece]))

    def _push(self, x: np.ndarray) -> None:
        assert self._state is not None
        scratch = self._scratch if len(x) // CHUNK == self._scratch[1].shape[1] else None
        with np.errstate(all="ignore"):
            y, state = self._filter.process(x, self._state, scratch)
            pieces, partial = self._step_energies(y)
        if not (math.isfinite(partial) and all(map(math.isfinite, pieces))):
            # A damaged file's NaN, inf or absurd values would stay in the filter state for
            # good: cleaned as the stream cleans its mono mix, then measured again.
            x = np.clip(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), -MAX_SAMPLE, MAX_SAMPLE)
            y, state = self._filter.process(x, self._state, scratch)
            pieces, partial = self._step_energies(y)
        self._state = state
        self._close_steps(pieces, partial, len(x))

    def finish(self) -> None:
        """Close the last, partial step (it counts for momentary and short-term only)."""
        opened = self._position - self._boundary(self._steps)
        if opened > 0:
            self._append(self._partial, opened)
            self._partial = 0.0

    def second(self, index: int) -> SecondLoudness:
        """Loudness of second ``index`` (its steps must all be in)."""
        lo = index * STEPS_PER_SECOND
        hi = min(lo + STEPS_PER_SECOND, self._steps)
        momentary = max(
            (self._window(end - BLOCK_STEPS, end) for end in range(lo + 1, hi + 1)),
            default=DB_FLOOR,
        )
        return SecondLoudness(
            lufs=self._window(lo, hi),
            momentary=momentary,
            short_term=self._window(hi - SHORT_TERM_STEPS, hi),
        )

    def block_powers(self, start: float = 0.0, end: float | None = None) -> np.ndarray:
        """Weighted mean square of every full 400 ms block within [start, end] (seconds)."""
        first = max(0, math.ceil(start * STEPS_PER_SECOND - 1e-9))
        last = self._full_steps
        if end is not None:
            last = min(last, math.floor(end * STEPS_PER_SECOND + 1e-9))
        if last - first < BLOCK_STEPS:
            return np.zeros(0)
        sums = np.concatenate(([0.0], np.cumsum(self._sums[first:last])))
        counts = np.concatenate(([0], np.cumsum(self._counts[first:last])))
        powers: np.ndarray = (sums[BLOCK_STEPS:] - sums[:-BLOCK_STEPS]) / (
            counts[BLOCK_STEPS:] - counts[:-BLOCK_STEPS]
        )
        return powers

    def integrated(self, start: float = 0.0, end: float | None = None) -> float:
        """Integrated loudness (gated, BS.1770-4) of [start, end] seconds, LUFS."""
        return integrated_loudness(self.block_powers(start, end))

    def _boundary(self, step: int) -> int:
        """First sample of ``step``: steps are 100 ms rounded down to whole samples."""
        return step * self.samplerate // STEPS_PER_SECOND

    def _step_energies(self, y: np.ndarray) -> tuple[list[float], float]:
        """Weighted sums of squares of ``y`` (channels, n) between step boundaries.

        Returns the sums of the steps the block completes (the first one including the
        part pushed before) and of the part after the last boundary.
        """
        start, end = self._position, self._position + y.shape[1]
        edges = [0]
        step = self._steps + 1
        while self._boundary(step) <= end:
            edges.append(self._boundary(step) - start)
            step += 1
        edges.append(y.shape[1])
        # Squared in place (the output is scratch), summed per piece along each row, then
        # weighted: three calls for the whole block, whatever its number of steps.
        np.multiply(y, y, out=y)
        ends_on_boundary = edges[-2] == edges[-1]
        lows = edges[:-2] if ends_on_boundary else edges[:-1]
        per_channel = np.add.reduceat(y, lows, axis=1, dtype=np.float64)
        sums: list[float] = (self._weights @ per_channel).tolist()
        if ends_on_boundary:
            sums.append(0.0)
        return sums[:-1], sums[-1]

    def _close_steps(self, pieces: list[float], partial: float, samples: int) -> None:
        if pieces:
            pieces[0] += self._partial
            for piece in pieces:
                self._append(piece, self._boundary(self._steps + 1) - self._boundary(self._steps))
                self._full_steps += 1
            self._partial = partial
        else:
            self._partial += partial
        self._position += samples

    def _append(self, total: float, count: int) -> None:
        self._sums.append(total)
        self._counts.append(count)
        self._steps += 1

    def _window(self, lo: int, hi: int) -> float:
        lo = max(lo, 0)
        count = sum(self._counts[lo:hi])
        return to_lufs(sum(self._sums[lo:hi]) / count) if count else DB_FLOOR


def loudness(signal: np.ndarray, samplerate: int) -> float:
    """Integrated loudness of a whole signal, shape (n,) or (n, channels), LUFS."""
    meter = LoudnessMeter(samplerate)
    meter.push(signal)
    meter.finish()
    return meter.integrated()

"""Song-level tempo: a local autocorrelation tempogram, a smooth tempo path, the beat level.

The onset envelope is cut into overlapping windows; each window's autocorrelation, read on a
log-tempo grid, says which periods recur there (an autocorrelation tempogram, Grosche et al.
2010). The tempo path is the best-scoring route through it that changes tempo only when the
evidence pays for the jump (Viterbi decoding, as in Klapuri et al. 2006), so a song that
goes from 120 to 90 BPM follows both instead of settling on a common sub-multiple.

Which metrical level is *the* beat is decided from evidence rather than from a fixed prior
centred on 120 BPM: the envelope is folded at a candidate period and the positions between
its beats are compared with the beats themselves. When they hold onsets nearly as strong,
the faster level is the beat (a waltz's three crotchets, drum and bass's backbeat); when
they are weak they are subdivisions (hi-hat quavers under a pop beat). The bar a faster
level must clear rises with its tempo, the way listeners' preferred rates fall off above
about 120-150 BPM (Moelants 2002; McKinney & Moelants 2006).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audio_service.analysis.tempo import MAX_BPM, MIN_BPM

#: Log-tempo grid of the tempogram, BPM.
GRID_MIN_BPM = 30.0
GRID_MAX_BPM = 320.0
GRID_STEP = 0.015  #: relative spacing of the grid (1.5 %)
#: Tempogram window and hop, seconds.
WINDOW_SECONDS = 10.0
HOP_SECONDS = 2.0
#: Viterbi cost of moving one grid step between windows (tempogram units).
JUMP_COST = 0.01
#: Phase bins of a fold (per period of the slower level).
FOLD_BINS = 24


@dataclass(frozen=True)
class Tempogram:
    """Local autocorrelation over time, on a log-tempo grid."""

    bpm: np.ndarray  #: (n_bpm,) grid, BPM, ascending
    values: np.ndarray  #: (n_windows, n_bpm) normalised autocorrelation, >= 0
    starts: np.ndarray  #: (n_windows,) first frame of each window
    weights: np.ndarray  #: (n_windows,) how much onset activity each window holds
    window: int  #: window length, frames


def tempo_grid() -> np.ndarray:
    """The log-spaced tempo grid, BPM, shape (n_bpm,)."""
    n = int(np.floor(np.log(GRID_MAX_BPM / GRID_MIN_BPM) / np.log1p(GRID_STEP))) + 1
    grid: np.ndarray = GRID_MIN_BPM * (1 + GRID_STEP) ** np.arange(n)
    return grid


def tempogram(envelope: np.ndarray, *, frame_rate: float) -> Tempogram:
    """Windowed autocorrelation of an onset envelope, read at the tempo grid's lags.

    Parameters
    ----------
    envelope : np.ndarray, shape (n,)
        Detrended onset envelope (e.g. ``onsets.combined_envelope``).
    frame_rate : float
        Frames per second (Hz).

    Returns
    -------
    Tempogram
        At least one window (the whole envelope when it is shorter than a window).
    """
    x = np.asarray(envelope, dtype=np.float64)
    window = min(len(x), round(WINDOW_SECONDS * frame_rate))
    hop = max(1, round(HOP_SECONDS * frame_rate))
    starts = np.arange(0, max(1, len(x) - window + 1), hop)
    if len(x) - window > starts[-1]:
        starts = np.append(starts, len(x) - window)
    frames = np.stack([x[s : s + window] for s in starts])
    weights = frames.mean(axis=1)
    frames = frames - weights[:, None]
    size = 1 << int(np.ceil(np.log2(max(2 * window, 2))))
    spectrum = np.fft.rfft(frames * np.hanning(window), size, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, size, axis=1)[:, :window]
    zero = acf[:, :1]
    acf = np.where(zero > 1e-12, acf / np.maximum(zero, 1e-12), 0.0)
    # Smooth along lag so that a period between two whole lags keeps its full height.
    acf[:, 1:-1] = 0.25 * acf[:, :-2] + 0.5 * acf[:, 1:-1] + 0.25 * acf[:, 2:]
    grid = tempo_grid()
    lags = 60.0 * frame_rate / grid
    lo = np.floor(lags).astype(int)
    frac = lags - lo
    ok = lo + 1 < window
    lo = np.minimum(lo, window - 2)
    values = acf[:, lo] * (1 - frac) + acf[:, lo + 1] * frac
    values = np.where(ok, np.maximum(values, 0.0), 0.0)
    return Tempogram(bpm=grid, values=values, starts=starts, weights=weights, window=window)


def tempo_path(gram: Tempogram) -> np.ndarray:
    """Viterbi path through the tempogram within MIN_BPM..MAX_BPM.

    Returns
    -------
    np.ndarray, shape (n_windows,)
        Grid index of the tempo of each window.
    """
    allowed = (gram.bpm >= MIN_BPM) & (gram.bpm <= MAX_BPM)
    idx = np.flatnonzero(allowed)
    emission = gram.values[:, idx]
    steps = np.arange(len(idx))
    jump = JUMP_COST * np.abs(steps[:, None] - steps[None, :])
    score = emission[0].copy()
    back = np.zeros((len(emission), len(idx)), dtype=np.int64)
    for w in range(1, len(emission)):
        total = score[None, :] - jump  # (to, from)
        back[w] = np.argmax(total, axis=1)
        score = total[steps, back[w]] + emission[w]
    path = np.empty(len(emission), dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for w in range(len(emission) - 1, 0, -1):
        path[w - 1] = back[w, path[w]]
    out: np.ndarray = idx[path]
    return out


def fold(envelope: np.ndarray, period: float) -> np.ndarray:
    """Mean envelope per phase of a period, circularly smoothed, shape (FOLD_BINS,)."""
    phase = (np.arange(len(envelope)) % period) / period
    bins = np.minimum((phase * FOLD_BINS).astype(int), FOLD_BINS - 1)
    total = np.bincount(bins, weights=envelope, minlength=FOLD_BINS)
    count = np.maximum(np.bincount(bins, minlength=FOLD_BINS), 1)
    h = total / count
    h = 0.25 * np.roll(h, 1) + 0.5 * h + 0.25 * np.roll(h, -1)
    out: np.ndarray = h - h.min()
    return out


def subdivision_strength(folded: np.ndarray, parts: int) -> float:
    """How strong the positions splitting a period into ``parts`` are, next to its beat.

    Parameters
    ----------
    folded : np.ndarray, shape (FOLD_BINS,)
        :func:`fold` of the envelope at the slower level's period.
    parts : int
        2 (duple) or 3 (triple).

    Returns
    -------
    float
        Mean height at the in-between positions over the height at the strongest phase;
        0 for a flat fold.
    """
    top = int(np.argmax(folded))
    if folded[top] <= 0:
        return 0.0
    between = [folded[(top + round(j * FOLD_BINS / parts)) % FOLD_BINS] for j in range(1, parts)]
    return float(np.mean(between) / folded[top])


def level_threshold(bpm: float) -> float:
    """Subdivision strength a level of ``bpm`` needs to be the beat instead of its parent."""
    return 0.3 + 0.4 * min(1.0, max(0.0, (bpm - 110.0) / 100.0))


def choose_level(
    envelope: np.ndarray, gram: Tempogram, path: np.ndarray, frame_rate: float
) -> float:
    """Factor by which to scale the tempo path so that it follows the beat.

    Parameters
    ----------
    envelope : np.ndarray, shape (n,)
        The onset envelope the tempogram came from.
    gram : Tempogram
    path : np.ndarray, shape (n_windows,)
        :func:`tempo_path` of ``gram``.
    frame_rate : float

    Returns
    -------
    float
        One of 1/3, 1/2, 2/3, 1, 3/2, 2, 3 (products of 2 and 3 keeping the path in range).
    """
    # A few well-filled windows are enough evidence and keep this cheap on long songs.
    order = np.argsort(-gram.weights)[:24]
    windows = [(int(gram.starts[w]), float(gram.bpm[path[w]])) for w in order]

    def strength(bpm_factor: float, parts: int) -> float:
        values = []
        for start, bpm in windows:
            period = 60.0 * frame_rate / (bpm * bpm_factor)
            segment = envelope[start : start + gram.window]
            values.append(subdivision_strength(fold(segment, period), parts))
        return float(np.median(values))

    base = float(np.median([bpm for _, bpm in windows]))
    factor = 1.0
    # Down while the current level's extra beats are too weak next to a slower level's.
    while True:
        options = [(strength(factor / m, m), m) for m in (2, 3) if base * factor / m >= MIN_BPM]
        weak = [(s, m) for s, m in options if s < level_threshold(base * factor)]
        if not weak:
            break
        factor /= min(weak)[1]
    # Up while a faster level's extra beats are strong enough to be beats.
    while True:
        options = [(strength(factor, m), m) for m in (2, 3) if base * factor * m <= MAX_BPM]
        strong = [(s, m) for s, m in options if s >= level_threshold(base * factor * m)]
        if not strong:
            break
        factor *= max(strong)[1]
    return factor

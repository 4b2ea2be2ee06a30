"""Repetition boundaries: structure features after Serra, Müller, Grosche & Arcos (2014).

Foote's novelty finds where the sound changes; a strain played twice (A A) does not change
at its repeat, yet listeners hear a new section there. Structure features see it: each
moment's recurrence to the rest of the track, written in time-lag form (row i holds its
recurrence at i + lag), changes where one repeated part ends and another begins (before
the repeat, A's copy lies ahead; after it, behind). The novelty of the smoothed rows is the
repetition boundary curve.
"""

from __future__ import annotations

import numpy as np

#: Embedding: each row stacks this many consecutive seconds of features around it.
EMBED_SECONDS = 4
#: Nearest neighbours per row in the recurrence plot, as a fraction of the track.
NEIGHBOUR_FRACTION = 0.04
#: Gaussian smoothing of the lag rows along time (standard deviation, seconds).
SMOOTH_SECONDS = 3.0
#: Longest track analysed row by row; longer ones are averaged over blocks of seconds first,
#: so the (n, n) matrices stay near 1.4 MB each (float32) however long the track.
MAX_ROWS = 600


def _gaussian_smooth_rows(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian filter along axis 0 (edges reflected)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(x, ((radius, radius), (0, 0)), mode="reflect")
    out = np.zeros_like(x, dtype=np.float32)
    for k, tap in enumerate(taps):
        out += tap * padded[k : k + len(x)]
    return out


def repetition_novelty(features: np.ndarray) -> np.ndarray:
    """Structure-feature novelty per row (Serra et al. 2014).

    Parameters
    ----------
    features : np.ndarray, shape (n, d)
        One row per second, columns in comparable units (z-scored).

    Returns
    -------
    np.ndarray, shape (n,)
        >= 0, high at the start of a row where the repetition structure changes; zeros for
        fewer than ``4 * EMBED_SECONDS`` rows.
    """
    total = len(features)
    if total < 4 * EMBED_SECONDS:
        return np.zeros(total)
    block = -(-total // MAX_ROWS)
    if block > 1:
        padded_rows = np.pad(features, ((0, -total % block), (0, 0)), mode="edge")
        coarse = padded_rows.reshape(-1, block, features.shape[1]).mean(axis=1)
        return np.repeat(_novelty(coarse, block), block)[:total]
    return _novelty(features, 1)


def _novelty(features: np.ndarray, block: int) -> np.ndarray:
    """:func:`repetition_novelty` of rows ``block`` seconds apart (times in seconds)."""
    n = len(features)
    embed = max(2, round(EMBED_SECONDS / block))
    # Embedding centred on each row (edge rows repeated), so a change shows at its own time.
    before = (embed - 1) // 2
    padded = np.pad(features, ((before, embed - 1 - before), (0, 0)), mode="edge")
    embedded = np.hstack([padded[k : k + n] for k in range(embed)]).astype(np.float32)
    squared = np.sum(embedded**2, axis=1)
    distance = squared[:, None] + squared[None, :] - 2.0 * embedded @ embedded.T
    np.fill_diagonal(distance, np.inf)
    k = max(2, round(NEIGHBOUR_FRACTION * n))
    nearest = np.argpartition(distance, k, axis=1)[:, :k]
    neighbours = np.zeros((n, n), dtype=bool)
    neighbours[np.arange(n)[:, None], nearest] = True
    neighbours &= neighbours.T
    del distance
    # Time-lag form: row i, column lag holds recurrence(i, i + lag mod n).
    lag = np.empty((n, n), dtype=np.float32)
    for i in range(n):
        lag[i] = np.roll(neighbours[i], -i)
    smooth = _gaussian_smooth_rows(lag, SMOOTH_SECONDS / block)
    change = np.zeros(n)
    change[1:] = np.sum(np.diff(smooth, axis=0) ** 2, axis=1)
    return change

"""Song sections from per-second features: self-similarity, checkerboard novelty, labels.

Boundaries follow Foote (2000): a checkerboard kernel slid along the diagonal of the
self-similarity matrix peaks where the past and the future of a moment differ. The matrix
compares z-scored features (the shape of change, whatever its size), so every candidate must
also change the sound by a fixed amount (dB of timbre, share points of chroma): a homogeneous
track then has one section instead of amplified noise. Sections whose mean features are
alike form one part; repetition and loudness name the parts.
"""

from __future__ import annotations

import numpy as np

#: Half-width of the checkerboard kernel, seconds (shrunk for short tracks).
KERNEL_SECONDS = 8
#: No two boundaries closer than this, seconds.
MIN_SECTION_SECONDS = 6
#: A boundary needs the mean features on its two sides to differ by this much (RMS over
#: features, in their units of a clear difference).
MIN_CHANGE = 0.3
#: Sections whose mean features differ by less than this (same measure) are the same part.
SAME_PART_DISTANCE = 0.25


def _unit_rows(features: np.ndarray) -> np.ndarray:
    """Z-score each column, then scale each row to unit length (cosine geometry)."""
    x = features - features.mean(axis=0)
    x = x / (x.std(axis=0) + 1e-9)
    unit: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
    return unit


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """RMS difference of two feature vectors, in feature units."""
    return float(np.sqrt(np.mean((a - b) ** 2)))


def checkerboard_novelty(rows: np.ndarray, *, half_width: int) -> np.ndarray:
    """Foote novelty along the diagonal of the rows' cosine self-similarity.

    Only the (2 * half_width)-square blocks on the diagonal are ever formed, so memory
    stays flat however long the track.

    Parameters
    ----------
    rows : np.ndarray, shape (n + 2 * half_width, d)
        Unit-length feature rows (here one per second), the edge rows repeated
        ``half_width`` times at both ends.
    half_width : int
        Kernel half-width in rows.

    Returns
    -------
    np.ndarray, shape (n,)
        Novelty at the *start* of each row, >= 0: high where rows ``i - half_width .. i - 1``
        differ from rows ``i .. i + half_width - 1``.
    """
    w = half_width
    n = len(rows) - 2 * w
    offsets = np.arange(-w, w) + 0.5
    taper = np.exp(-0.5 * (offsets / (0.5 * w)) ** 2)
    kernel = np.sign(offsets)[:, None] * np.sign(offsets)[None, :] * np.outer(taper, taper)
    kernel /= np.abs(kernel).sum()
    novelty = np.empty(n)
    for i in range(n):
        block = rows[i : i + 2 * w]
        novelty[i] = np.sum(kernel * (block @ block.T))
    positive: np.ndarray = np.maximum(novelty, 0.0)
    return positive


def pick_boundaries(novelty: np.ndarray, *, min_distance: int) -> list[int]:
    """Indices of novelty peaks: maxima within ``min_distance`` that stand out of the curve."""
    n = len(novelty)
    if n == 0 or novelty.max() <= 0:
        return []
    threshold = max(float(np.median(novelty) + novelty.std()), 0.2 * float(novelty.max()))
    peaks: list[int] = []
    for i in range(min_distance, n - min_distance + 1):
        lo, hi = max(0, i - min_distance), min(n, i + min_distance + 1)
        is_peak = novelty[i] >= threshold and novelty[i] == novelty[lo:hi].max()
        if is_peak and (not peaks or i - peaks[-1] >= min_distance):
            peaks.append(i)
    return peaks


def label_parts(groups: list[int], loudness_db: list[float]) -> list[str]:
    """Name sections from their part numbers.

    The loudest repeated part is the chorus, other repeated parts are verses; a part heard
    once is the intro when it opens the track, the outro when it closes it, a bridge in
    between. Tracks of one or two sections without repeats are all verse.
    """
    counts = {g: groups.count(g) for g in groups}
    repeated = [g for g in counts if counts[g] > 1]
    chorus = None
    if repeated:
        level = {
            g: float(np.mean([ld for gg, ld in zip(groups, loudness_db, strict=True) if gg == g]))
            for g in repeated
        }
        chorus = max(repeated, key=lambda g: (level[g], counts[g]))
    labels = []
    for i, g in enumerate(groups):
        if g == chorus:
            labels.append("chorus")
        elif counts[g] > 1 or len(groups) < 3:
            labels.append("verse")
        elif i == 0:
            labels.append("intro")
        elif i == len(groups) - 1:
            labels.append("outro")
        else:
            labels.append("bridge")
    return labels


def find_sections(
    features: np.ndarray, loudness_db: np.ndarray, *, ends: np.ndarray
) -> list[dict[str, float | str]]:
    """Split a track into labelled sections.

    Parameters
    ----------
    features : np.ndarray, shape (n_seconds, n_features)
        One feature row per analysed second, each column divided by its unit of a clear
        difference (e.g. 6 dB of timbre).
    loudness_db : np.ndarray, shape (n_seconds,)
        RMS level of each second, dBFS.
    ends : np.ndarray, shape (n_seconds,)
        End time of each second (the last one may be partial), seconds.

    Returns
    -------
    list of dict
        ``{start, end, label}`` covering the whole track, times in seconds.
    """
    n = len(features)
    if n == 0:
        return []
    half_width = min(KERNEL_SECONDS, n // 4)
    bounds: list[int] = []
    if half_width >= 2:
        padded = np.pad(features, ((half_width, half_width), (0, 0)), mode="edge")
        novelty = checkerboard_novelty(_unit_rows(padded), half_width=half_width)
        candidates = pick_boundaries(novelty, min_distance=min(MIN_SECTION_SECONDS, half_width))
        bounds = [
            i
            for i in candidates
            if _distance(
                features[i - half_width : i].mean(axis=0), features[i : i + half_width].mean(axis=0)
            )
            >= MIN_CHANGE
        ]
    starts = [0, *bounds]
    stops = [*bounds, n]
    means = [features[a:b].mean(axis=0) for a, b in zip(starts, stops, strict=True)]
    # Each section joins the part of the first earlier section it resembles.
    groups: list[int] = []
    for i, mean in enumerate(means):
        earlier = [j for j in range(i) if _distance(mean, means[j]) < SAME_PART_DISTANCE]
        groups.append(groups[earlier[0]] if earlier else i)
    level = [float(np.mean(loudness_db[a:b])) for a, b in zip(starts, stops, strict=True)]
    labels = label_parts(groups, level)
    return [
        {"start": float(a), "end": float(ends[b - 1]), "label": label}
        for a, b, label in zip(starts, stops, labels, strict=True)
    ]

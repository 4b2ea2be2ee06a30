"""Song sections from per-second features: self-similarity, checkerboard novelty, labels.

Boundaries follow Foote (2000): a checkerboard kernel slid along the diagonal of the
self-similarity matrix peaks where the past and the future of a moment differ. Sections
whose mean features are alike are grouped; repetition and loudness then name them.
"""

from __future__ import annotations

import numpy as np

#: Half-width of the checkerboard kernel, seconds (shrunk for short tracks).
KERNEL_SECONDS = 8
#: No two boundaries closer than this, seconds.
MIN_SECTION_SECONDS = 6
#: Cosine similarity of section means above which two sections count as the same part.
SAME_PART_SIMILARITY = 0.5


def _standardize(features: np.ndarray) -> np.ndarray:
    """Z-score each column, then scale each row to unit length (cosine geometry)."""
    x = features - features.mean(axis=0)
    x = x / (x.std(axis=0) + 1e-9)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norms, 1e-9))


def checkerboard_novelty(similarity: np.ndarray, *, half_width: int) -> np.ndarray:
    """Foote novelty of a self-similarity matrix.

    Parameters
    ----------
    similarity : np.ndarray, shape (n, n)
        Self-similarity between feature frames (here seconds).
    half_width : int
        Kernel half-width in frames.

    Returns
    -------
    np.ndarray, shape (n,)
        Novelty at the *start* of each frame: high where frames ``i - half_width .. i - 1``
        differ from frames ``i .. i + half_width - 1``.
    """
    n, w = len(similarity), half_width
    offsets = np.arange(-w, w) + 0.5
    taper = np.exp(-0.5 * (offsets / (0.5 * w)) ** 2)
    kernel = np.sign(offsets)[:, None] * np.sign(offsets)[None, :] * np.outer(taper, taper)
    padded = np.zeros((n + 2 * w, n + 2 * w))
    padded[w : w + n, w : w + n] = similarity
    novelty = np.array([np.sum(kernel * padded[i : i + 2 * w, i : i + 2 * w]) for i in range(n)])
    return np.asarray(np.maximum(novelty, 0.0))


def pick_boundaries(novelty: np.ndarray, *, min_distance: int) -> list[int]:
    """Indices of novelty peaks: local maxima within ``min_distance``, above the typical level."""
    n = len(novelty)
    if n == 0 or novelty.max() <= 0:
        return []
    threshold = max(0.2 * float(novelty.max()), float(np.median(novelty) + novelty.std()))
    peaks: list[int] = []
    for i in range(min_distance, n - min_distance + 1):
        lo, hi = max(0, i - min_distance), min(n, i + min_distance + 1)
        is_peak = novelty[i] >= threshold and novelty[i] == novelty[lo:hi].max()
        if is_peak and (not peaks or i - peaks[-1] >= min_distance):
            peaks.append(i)
    return peaks


def _label(groups: list[int], loudness: list[float]) -> list[str]:
    """Name sections from their part groups: repeated loudest = chorus, other repeats = verse,
    a unique first/last section = intro/outro, any other unique section = bridge."""
    counts = {g: groups.count(g) for g in groups}
    repeated = [g for g in counts if counts[g] > 1]
    chorus = None
    if repeated:
        level = {
            g: np.mean([ld for gg, ld in zip(groups, loudness, strict=True) if gg == g])
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
        One feature row per analysed second (timbre and chroma).
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
        x = _standardize(features)
        novelty = checkerboard_novelty(x @ x.T, half_width=half_width)
        bounds = pick_boundaries(novelty, min_distance=min(MIN_SECTION_SECONDS, half_width))
    starts = [0, *bounds]
    stops = [*bounds, n]
    x = _standardize(features) if n > 1 else features
    means = [x[a:b].mean(axis=0) for a, b in zip(starts, stops, strict=True)]
    groups: list[int] = []
    for i, m in enumerate(means):
        group = i
        for j in range(i):
            denom = float(np.linalg.norm(m) * np.linalg.norm(means[j])) or 1.0
            if float(np.dot(m, means[j])) / denom >= SAME_PART_SIMILARITY:
                group = groups[j]
                break
        groups.append(group)
    level = [float(np.mean(loudness_db[a:b])) for a, b in zip(starts, stops, strict=True)]
    labels = _label(groups, level)
    return [
        {"start": float(a), "end": float(ends[b - 1]), "label": label}
        for a, b, label in zip(starts, stops, labels, strict=True)
    ]

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

from audio_service.analysis.structure import repetition_novelty

#: Half-width of the checkerboard kernel, seconds (shrunk for short tracks).
KERNEL_SECONDS = 8
#: No two boundaries closer than this, seconds.
MIN_SECTION_SECONDS = 6
#: A boundary needs the mean features on its two sides to differ by this much (RMS over
#: features, in their units of a clear difference) ...
MIN_CHANGE = 0.2
#: Sections whose mean features differ by less than this (same measure) are the same part.
SAME_PART_DISTANCE = 0.25
#: Or the repetition novelty there must reach this multiple of its median.
MIN_REPETITION = 3.0
#: Weight of the repetition novelty next to Foote's in the boundary curve.
REPETITION_WEIGHT = 0.5
#: Candidates: peaks of the combined curve (maximum 1) at least this high ...
PEAK_THRESHOLD = 0.3
#: ... not within this many seconds of the first or last second of sound.
EDGE_SECONDS = 4
#: Seconds quieter than this (dBFS) are silence.
SILENT_DB = -60.0
#: Boundaries move to a downbeat at most this far away, seconds.
SNAP_SECONDS = 1.5


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


def _peaks(curve: np.ndarray, *, min_distance: int, threshold: float) -> list[int]:
    """Indices of maxima within ``min_distance`` rows that reach ``threshold``."""
    out: list[int] = []
    n = len(curve)
    for i in range(1, n):
        lo, hi = max(0, i - min_distance), min(n, i + min_distance + 1)
        is_peak = curve[i] >= threshold and curve[i] == curve[lo:hi].max()
        if is_peak and (not out or i - out[-1] >= min_distance):
            out.append(i)
    return out


def boundary_curve(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Foote novelty and repetition novelty of per-second features, each scaled to ~1.

    Returns
    -------
    (combined, repetition) : (np.ndarray of shape (n,), np.ndarray of shape (n,))
        Their sum scaled to a maximum of 1, and the raw repetition novelty.
    """
    n = len(features)
    half_width = min(KERNEL_SECONDS, n // 4)
    padded = np.pad(features, ((half_width, half_width), (0, 0)), mode="edge")
    foote = checkerboard_novelty(_unit_rows(padded), half_width=half_width)
    z = (features - features.mean(axis=0)) / (features.std(axis=0) + 1e-9)
    repetition = repetition_novelty(z)
    combined = foote / (np.percentile(foote, 95) + 1e-9)
    combined = combined + REPETITION_WEIGHT * repetition / (np.percentile(repetition, 95) + 1e-9)
    top = float(combined.max())
    return (combined / top if top > 0 else combined), repetition


def find_sections(
    features: np.ndarray,
    loudness_db: np.ndarray,
    *,
    ends: np.ndarray,
    downbeats: np.ndarray | None = None,
) -> list[dict[str, float | str]]:
    """Split a track into labelled sections.

    Candidates are peaks of Foote's novelty (the sound changes) plus the structure-feature
    novelty of Serra et al. (2014) (the repetition structure changes: a strain played again),
    away from the first and last seconds of sound; where the track goes from silence to sound
    there is always a boundary. A candidate must change the features by ``MIN_CHANGE`` or
    stand out of the repetition curve by ``MIN_REPETITION``, so that a homogeneous track is
    one section. Boundaries move to the nearest downbeat within ``SNAP_SECONDS``.

    Parameters
    ----------
    features : np.ndarray, shape (n_seconds, n_features)
        One feature row per analysed second, each column divided by its unit of a clear
        difference (e.g. 6 dB of timbre).
    loudness_db : np.ndarray, shape (n_seconds,)
        RMS level of each second, dBFS.
    ends : np.ndarray, shape (n_seconds,)
        End time of each second (the last one may be partial), seconds.
    downbeats : np.ndarray, optional
        Bar starts, seconds.

    Returns
    -------
    list of dict
        ``{start, end, label}`` covering the whole track, times in seconds.
    """
    n = len(features)
    if n == 0:
        return []
    times: list[float] = []
    half_width = min(KERNEL_SECONDS, n // 4)
    audible = np.flatnonzero(loudness_db > SILENT_DB)
    if half_width >= 2 and len(audible):
        curve, repetition = boundary_curve(features)
        first, last = int(audible[0]), int(audible[-1])
        curve[: first + EDGE_SECONDS] = 0.0
        curve[max(0, last + 1 - EDGE_SECONDS) :] = 0.0
        typical = float(np.median(repetition)) + 1e-12
        for i in _peaks(curve, min_distance=MIN_SECTION_SECONDS, threshold=PEAK_THRESHOLD):
            change = _distance(
                features[max(0, i - half_width) : i].mean(axis=0),
                features[i : i + half_width].mean(axis=0),
            )
            if change >= MIN_CHANGE or repetition[i] >= MIN_REPETITION * typical:
                times.append(float(i))
        if first > 0 and all(abs(first - t) >= 3 for t in times):
            times.append(float(first))
    # Row index (for the features) and time (snapped to a bar line) of each boundary.
    snapped = {min(n - 1, max(1, round(t))): _snap(t, downbeats) for t in times}
    bounds = sorted(snapped)
    starts_s = [0.0, *[snapped[b] for b in bounds]]
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
    ends_s = [*starts_s[1:], float(ends[-1])]
    return [
        {"start": a, "end": b, "label": label}
        for a, b, label in zip(starts_s, ends_s, labels, strict=True)
    ]


def _snap(time: float, downbeats: np.ndarray | None) -> float:
    """The nearest downbeat within ``SNAP_SECONDS`` of ``time``, else ``time``."""
    if downbeats is None or len(downbeats) == 0:
        return time
    nearest = float(downbeats[int(np.argmin(np.abs(downbeats - time)))])
    return nearest if abs(nearest - time) <= SNAP_SECONDS else time

"""Beat times by dynamic programming over the onset envelope (Ellis 2007).

The best beat sequence maximises the onset strength at its beats minus a cost for every
inter-beat interval that strays from the expected period, ``tightness * log(gap / period)^2``.
The expected period here varies along the track (it follows the tempo path), so tempo
changes and ritardandi are tracked. The recursion only looks back at least half a period,
so all frames of one half-period block are computed at once from finished scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Ellis (2007) / librosa's default transition tightness.
TIGHTNESS = 100.0
#: A beat whose surroundings (2 s) hold less onset activity than this fraction of the
#: track's mean is in silence or a held sound, not a beat.
ACTIVE_FRACTION = 0.08

#: An onset starts where the envelope first exceeds this fraction of its peak.
LEADING_EDGE_FRACTION = 0.3


@dataclass(frozen=True)
class BeatTrack:
    """Beat frames and what they say about the tempo."""

    frames: np.ndarray  #: (n_beats,) int frame index of each beat, ascending
    bpm: np.ndarray  #: (n_beats,) local tempo at each beat, BPM
    salience: float  #: mean envelope at the beats over the mean envelope, >= 0


def dp_beats(
    envelope: np.ndarray, periods: np.ndarray, *, tightness: float = TIGHTNESS
) -> np.ndarray:
    """The best-scoring beat sequence of an envelope (Ellis 2007).

    Parameters
    ----------
    envelope : np.ndarray, shape (n,)
        Onset strength per frame, >= 0.
    periods : np.ndarray, shape (n,)
        Expected beat period at each frame, frames (> 2).
    tightness : float
        Weight of the interval cost.

    Returns
    -------
    np.ndarray, shape (n_beats,)
        Frame indices, ascending; empty for an empty or flat envelope.
    """
    n = len(envelope)
    std = float(np.std(envelope)) if n else 0.0
    if n == 0 or std <= 1e-12:
        return np.zeros(0, dtype=np.int64)
    local = np.asarray(envelope, dtype=np.float64) / std
    score = np.zeros(n)
    back = np.full(n, -1, dtype=np.int64)
    t = 0
    while t < n:
        block = max(1, int(periods[t] // 2))
        stop = min(n, t + block)
        span = periods[t:stop]
        gaps = np.arange(block, int(np.ceil(2.0 * span.max())) + 1)
        frames = np.arange(t, stop)
        prev = frames[:, None] - gaps[None, :]
        cost = -tightness * np.log(gaps[None, :] / span[:, None]) ** 2
        cand = np.where(prev >= 0, score[np.maximum(prev, 0)] + cost, -np.inf)
        pick = np.argmax(cand, axis=1)
        best = cand[np.arange(len(frames)), pick]
        chained = best > 0
        score[t:stop] = local[t:stop] + np.where(chained, best, 0.0)
        back[t:stop] = np.where(chained, prev[np.arange(len(frames)), pick], -1)
        t = stop
    # The last beat: the best score within the final period.
    tail = max(1, round(periods[-1]))
    beat = n - tail + int(np.argmax(score[n - tail :]))
    out = []
    while beat >= 0:
        out.append(beat)
        beat = int(back[beat])
    return np.asarray(out[::-1], dtype=np.int64)


def active_beats(beats: np.ndarray, envelope: np.ndarray, *, frame_rate: float) -> np.ndarray:
    """Drop beats placed in silence or in long stretches without onsets."""
    if len(beats) == 0:
        return beats
    width = max(1, round(2.0 * frame_rate))
    activity = np.convolve(envelope, np.ones(width) / width, mode="same")
    keep = activity[beats] >= ACTIVE_FRACTION * max(float(envelope.mean()), 1e-12)
    out: np.ndarray = beats[keep]
    return out


def local_bpm(beats: np.ndarray, *, frame_rate: float, span: int = 4) -> np.ndarray:
    """Tempo at each beat from a least-squares line through the beats within ``span``.

    Gaps longer than twice the median interval (a pause) split the fit.

    Returns
    -------
    np.ndarray, shape (n_beats,)
        BPM; an empty array for fewer than two beats.
    """
    n = len(beats)
    if n < 2:
        return np.zeros(0)
    times = beats / frame_rate
    gaps = np.diff(times)
    limit = 2.0 * float(np.median(gaps))
    segment = np.concatenate(([0], np.cumsum(gaps > limit)))
    out = np.empty(n)
    for i in range(n):
        lo, hi = max(0, i - span), min(n, i + span + 1)
        same = segment[lo:hi] == segment[i]
        t = times[lo:hi][same]
        if len(t) < 2:
            out[i] = 60.0 / float(np.median(gaps))
            continue
        k = np.arange(len(t))
        slope = float(np.polyfit(k, t, 1)[0])
        out[i] = 60.0 / max(slope, 1e-6)
    return out


def dominant_tempo(beats: np.ndarray, bpm: np.ndarray, *, frame_rate: float) -> float:
    """The tempo held longest, refined by a line through the beats that hold it.

    Parameters
    ----------
    beats : np.ndarray, shape (n_beats,)
        Beat frames.
    bpm : np.ndarray, shape (n_beats,)
        :func:`local_bpm` of the beats.
    frame_rate : float

    Returns
    -------
    float
        BPM.
    """
    log_bpm = np.log2(bpm)
    durations = 60.0 / bpm
    # Tempo histogram in 2 % bins weighted by time: the mode is the dominant tempo.
    width = np.log2(1.02)
    bins = np.round(log_bpm / width).astype(int)
    offset = int(bins.min())
    hist = np.bincount(bins - offset, weights=durations)
    smooth = np.convolve(hist, [1.0, 1.0, 1.0], mode="same")
    centre = (int(np.argmax(smooth)) + offset) * width
    near = np.abs(log_bpm - centre) <= 2.5 * width
    chosen = beats[near] / frame_rate
    if len(chosen) >= 4:
        # Consecutive runs of beats at that tempo: the slope of time over beat index.
        # A run breaks where a beat is skipped or a pause comes between two beats.
        index = np.flatnonzero(near)
        expected = 60.0 / bpm[index[1:]]
        broken = (np.diff(index) > 1) | (np.diff(chosen) > 1.5 * expected)
        run = np.concatenate(([0], np.cumsum(broken)))
        slopes, weights = [], []
        for r in np.unique(run):
            t = chosen[run == r]
            if len(t) >= 3:
                slopes.append(float(np.polyfit(np.arange(len(t)), t, 1)[0]))
                weights.append(len(t))
        if slopes:
            return 60.0 / float(np.average(slopes, weights=weights))
    return float(2 ** np.median(log_bpm[near]))


def leading_edges(beats: np.ndarray, envelope: np.ndarray, *, frame_rate: float) -> np.ndarray:
    """Move each beat back to where its onset starts rising.

    The tracker puts a beat on the envelope's peak, the steepest point of the attack; for a
    drum that is the attack itself, but a bowed or blown note rises over 50-150 ms and its
    onset is heard at the start of the rise: the first frame, within 150 ms before the peak,
    from which the envelope stays above 30 % of the peak.
    """
    reach = max(1, round(0.15 * frame_rate))
    out = beats.copy()
    for i, b in enumerate(beats.tolist()):
        half = LEADING_EDGE_FRACTION * envelope[b]
        j = b
        while j > 0 and b - j < reach and envelope[j - 1] >= half:
            j -= 1
        out[i] = j
    return out


def track(envelope: np.ndarray, periods: np.ndarray, *, frame_rate: float) -> BeatTrack:
    """Beats of an envelope given the expected period per frame (see :func:`dp_beats`)."""
    beats = active_beats(dp_beats(envelope, periods), envelope, frame_rate=frame_rate)
    beats = leading_edges(beats, envelope, frame_rate=frame_rate)
    mean = float(envelope.mean()) if len(envelope) else 0.0
    if len(beats) < 2 or mean <= 1e-12:
        return BeatTrack(frames=beats, bpm=np.zeros(len(beats)), salience=0.0)
    near = np.stack([envelope[np.clip(beats + d, 0, len(envelope) - 1)] for d in (-1, 0, 1)])
    salience = float(near.max(axis=0).mean()) / mean
    return BeatTrack(frames=beats, bpm=local_bpm(beats, frame_rate=frame_rate), salience=salience)

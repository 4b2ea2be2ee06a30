"""Song-level rhythm: tempo, tempo curve, beats, downbeats and time signature.

Whole-track passes over the per-frame log the stream kept (``onsets.frame_log``): the
combined onset envelope, its tempogram and tempo path (``tempogram``), the beat level chosen
from evidence, beats by dynamic programming (``beats``) and bars (``meter``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audio_service.analysis import beats as bt
from audio_service.analysis import meter as mt
from audio_service.analysis import onsets
from audio_service.analysis import tempogram as tg

#: Seconds of onset activity needed before any tempo is reported.
MIN_SECONDS = 4.0
#: 99th percentile of the percussive flux (dB per frame) below which a track has no onsets
#: at all (a held tone or pad: 0.2-0.5; legato strings and choirs measure 1.8 and up).
MIN_FLUX_DB = 1.0
#: Spectral flatness above which a track without sharp attacks counts as noise (music in the
#: accuracy corpus measures at most 0.19, pink noise 0.46, white noise 1).
MAX_LEGATO_FLATNESS = 0.3
#: Tempogram clarity (see :func:`_periodicity`) of a track without any pulse (noise,
#: speech, held chords measure 0.03-0.09) and the span above it that reaches confidence 1.
PERIODICITY_FLOOR = 0.06
PERIODICITY_SPAN = 0.3
#: Below this confidence a track has no tempo (speech, noise, pulseless pads).
MIN_CONFIDENCE = 0.15
#: Tempo-curve points are spaced at least this far apart, seconds.
CURVE_SPACING = 1.0


@dataclass(frozen=True)
class Rhythm:
    bpm: float | None
    confidence: float  #: 0..1
    beats: list[float] = field(default_factory=list)  #: seconds
    downbeats: list[float] = field(default_factory=list)  #: seconds
    beats_per_bar: int | None = None
    curve: list[tuple[float, float]] = field(default_factory=list)  #: (seconds, BPM)
    periodicity: float = 0.0  #: tempogram clarity along the path, 0..1


NO_RHYTHM = Rhythm(bpm=None, confidence=0.0)


def _periodicity(gram: tg.Tempogram, path: np.ndarray) -> float:
    """How far the path's peaks stand above each window's mean, weighted by activity, 0..1."""
    rows = np.arange(len(path))
    on_path = gram.values[rows, path]
    baseline = gram.values.mean(axis=1)
    prominence = np.clip((on_path - baseline) / np.maximum(1.0 - baseline, 1e-9), 0.0, 1.0)
    weights = gram.weights
    if weights.sum() <= 0:
        return 0.0
    return float(np.average(prominence, weights=weights))


def _curve(times: np.ndarray, bpm: np.ndarray) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for t, b in zip(times.tolist(), bpm.tolist(), strict=True):
        if not out or t - out[-1][0] >= CURVE_SPACING:
            out.append((t, b))
    return out


def analyse_rhythm(log: np.ndarray, *, frame_rate: float, noisiness: float = 0.0) -> Rhythm:
    """Tempo, beats and bars of a whole track.

    Parameters
    ----------
    log : np.ndarray, shape (n_frames, N_LOG_COLUMNS)
        ``onsets.frame_log`` rows of the whole track.
    frame_rate : float
        Frames per second (Hz).
    noisiness : float
        Mean spectral flatness of the audible seconds, 0..1.

    Returns
    -------
    Rhythm
        ``NO_RHYTHM``-like (bpm None, no beats) when no beat is clear.
    """
    if len(log) < MIN_SECONDS * frame_rate:
        return NO_RHYTHM
    raw_flux = float(np.percentile(log[:, onsets.PERCUSSIVE], 99))
    envelope = onsets.combined_envelope(log, frame_rate=frame_rate)
    # Without sharp attacks the envelope leans on harmonic change, which noise (rain, hiss)
    # fakes with its random chroma: a noise-like spectrum there has no pulse to report.
    noise = noisiness >= MAX_LEGATO_FLATNESS and not onsets.has_sharp_attacks(log)
    if raw_flux < MIN_FLUX_DB or noise or float(envelope.max()) <= 0:
        return NO_RHYTHM
    gram = tg.tempogram(envelope, frame_rate=frame_rate)
    path = tg.tempo_path(gram)
    periodicity = _periodicity(gram, path)
    factor = tg.choose_level(envelope, gram, path, frame_rate)
    path_bpm = gram.bpm[path] * factor
    centres = gram.starts + gram.window / 2
    frames = np.arange(len(envelope))
    periods = 60.0 * frame_rate / np.interp(frames, centres, path_bpm)
    track = bt.track(envelope, periods, frame_rate=frame_rate)
    if len(track.frames) < 4:
        return Rhythm(bpm=None, confidence=0.0, periodicity=periodicity)
    bpm = bt.dominant_tempo(track.frames, track.bpm, frame_rate=frame_rate)
    # Confidence: clear periodicity (noise gives tall but random onsets, so the beats'
    # salience alone says little), discounted when the beats miss the onsets.
    fit = float(np.clip(track.salience - 1.0, 0.0, 1.0))
    clarity = (periodicity - PERIODICITY_FLOOR) / PERIODICITY_SPAN
    confidence = float(np.clip(clarity, 0.0, 1.0)) * fit
    if confidence < MIN_CONFIDENCE:
        return Rhythm(bpm=None, confidence=confidence, periodicity=periodicity)
    meter = mt.find_meter(mt.beat_evidence(track.frames, log, envelope))
    times = track.frames / frame_rate
    return Rhythm(
        bpm=bpm,
        confidence=confidence,
        beats=times.tolist(),
        downbeats=times[meter.downbeats].tolist(),
        beats_per_bar=meter.beats_per_bar,
        curve=_curve(times, track.bpm),
        periodicity=periodicity,
    )

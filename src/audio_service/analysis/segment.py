"""One second's measurements and its JSON segment, from the analyzer's accumulated frames.

A pure function of arrays: the analyzer hands over the mean projected spectrum of the
second's frames, its sample energy and the onset envelope, and keeps what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audio_service.analysis import features as ft
from audio_service.analysis import indices
from audio_service.analysis.loudness import SecondLoudness
from audio_service.analysis.spectral import (
    BANDS,
    COL_BANDS,
    COL_CENTROID,
    COL_CHROMA,
    COL_MEL,
    COL_TOTAL,
)
from audio_service.analysis.tempo import NO_TEMPO, estimate_tempo
from audio_service.analysis.tonal import estimate_key
from audio_service.protocol import Segment

#: Local tempo looks at this much audio ending at the segment's end (seconds) ...
TEMPO_WINDOW_SECONDS = 8
#: ... and says null until at least this much audio is available.
MIN_TEMPO_SECONDS = 4.0
#: Seconds of history behind a second's "peak" (loudness above the recent mean).
PEAK_HISTORY_SECONDS = 8
#: Log-mel floor (power, -100 dB re full scale): quieter mel bands count as silent and give
#: no flux, so digital silence has a flat envelope.
LOGMEL_FLOOR_POWER = 1e-10


@dataclass(slots=True)
class Second:
    """What the song summary needs to remember about one analysed second."""

    start: float
    end: float
    loudness_db: float
    chroma: np.ndarray  #: (12,) sums to 1, zeros in silence
    mel_db: np.ndarray  #: (N_MELS,) dB
    valence: float
    arousal: float
    silent: bool


def measure_second(
    start: int,
    end: float,
    *,
    mean: np.ndarray,
    mean_square: float,
    flux: np.ndarray,
    tempo_window: np.ndarray,
    frame_rate: float,
    history: list[Second],
    loudness: SecondLoudness,
) -> tuple[Second, Segment]:
    """Measure one second and build its segment.

    Parameters
    ----------
    start : int
        Index of the second (its start time in seconds).
    end : float
        End time, seconds (``start + 1`` except for a final partial second).
    mean : np.ndarray, shape (N_COLUMNS,)
        Mean projected spectrum of the second's frames (see ``spectral``).
    mean_square : float
        Mean square of the second's samples (full scale = 1).
    flux : np.ndarray, shape (n_frames,)
        Onset envelope over the second's frames, dB.
    tempo_window : np.ndarray, shape (m,)
        Onset envelope of the local tempo window ending with this second.
    frame_rate : float
        Envelope frames per second (Hz).
    history : list of Second
        The preceding seconds, most recent last (only the last few are read).
    loudness : SecondLoudness
        The second's BS.1770 loudness, from the stream's meter.

    Returns
    -------
    (Second, dict)
        What the summary keeps, and the JSON-ready segment.
    """
    loudness_db = ft.to_db(mean_square)
    silent = loudness_db < ft.SILENCE_DB
    # One vectorised log for the bands, total and centroid slot (unused).
    levels = (10.0 * np.log10(np.maximum(mean[: COL_CHROMA.start], ft.POWER_FLOOR))).tolist()
    band_db = levels[COL_BANDS]
    mel = mean[COL_MEL]
    mel_db = 10.0 * np.log10(np.maximum(mel, LOGMEL_FLOOR_POWER))
    total = float(mean[COL_TOTAL])
    centroid = 0.0 if silent or total <= 0 else float(mean[COL_CENTROID]) / total
    chroma = mean[COL_CHROMA]
    chroma = np.zeros(12) if silent else chroma / max(float(chroma.sum()), 1e-30)
    onset = 0.0 if silent else ft.onset_scale(float(flux.sum()) / max(len(flux), 1))
    tempo = NO_TEMPO
    if not silent and len(tempo_window) >= MIN_TEMPO_SECONDS * frame_rate - 1:
        tempo = estimate_tempo(tempo_window, frame_rate=frame_rate)
    key = estimate_key(chroma)
    recent = history[-PEAK_HISTORY_SECONDS:]
    measures = indices.Measures(
        loudness=ft.level_scale(loudness_db),
        brightness=ft.brightness(centroid),
        onset=onset,
        pulse=tempo.clarity,
        tempo=tempo.bpm,
        tempo_confidence=tempo.confidence,
        majorness=key.majorness,
        clarity=key.clarity,
        noisiness=ft.flatness(mel, mel_db),
        novelty=ft.novelty(mel_db, recent[-1].mel_db if recent else None),
        peak=ft.peak(loudness_db, [h.loudness_db for h in recent if not h.silent]),
        silent=silent,
    )
    derived = indices.derive(measures)
    emotion = derived.emotion
    second = Second(
        start=float(start),
        end=end,
        loudness_db=loudness_db,
        chroma=chroma,
        mel_db=mel_db,
        valence=float(emotion["valence"]),
        arousal=float(emotion["arousal"]),
        silent=silent,
    )
    segment: Segment = {
        "start_time": float(start),
        "end_time": round(end, 6),
        "frequencies": {
            b: round(ft.level_scale(db), 4) for b, db in zip(BANDS, band_db, strict=True)
        },
        "frequencies_db": {b: round(db, 2) for b, db in zip(BANDS, band_db, strict=True)},
        "loudness": round(measures.loudness, 4),
        "loudness_db": round(loudness_db, 2),
        "lufs": round(loudness.lufs, 2),
        "lufs_momentary": round(loudness.momentary, 2),
        "lufs_short_term": round(loudness.short_term, 2),
        "spectral_centroid": round(centroid, 1),
        "onset_strength": round(onset, 4),
        "beat_strength": round(tempo.clarity, 4),
        "tempo": None if tempo.bpm is None else round(tempo.bpm, 2),
        "tempo_confidence": round(tempo.confidence, 4),
        "brain_regions": ft.rounded(derived.brain_regions),
        "brainwaves": ft.rounded_shares(derived.brainwaves),
        "emotion": ft.rounded(emotion),
    }
    return second, segment

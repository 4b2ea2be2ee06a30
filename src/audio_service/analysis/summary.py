"""Song-level results computed once the stream has ended."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from audio_service.analysis import features as ft
from audio_service.analysis import indices
from audio_service.analysis.sections import find_sections
from audio_service.analysis.segment import Second
from audio_service.analysis.tempo import NO_TEMPO, estimate_tempo
from audio_service.analysis.tonal import estimate_key
from audio_service.protocol import Analysis

#: Global tempo refines its period with up to this many lag multiples (long envelope).
GLOBAL_TEMPO_HARMONICS = 8
#: Audible seconds needed before a song-level tempo is reported.
MIN_GLOBAL_TEMPO_SECONDS = 4.0
#: Units of "a clear difference" for section finding: mel-band level (dB) and chroma share.
SECTION_TIMBRE_DB = 6.0
SECTION_CHROMA_SHARE = 0.05
SECTION_FLOOR_DB = -60.0
#: BS.1770 gates: absolute (LUFS) and relative to the ungated level (LU).
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0


def integrated_loudness(k_powers: np.ndarray) -> float:
    """Gated loudness in LUFS, after ITU-R BS.1770-4, over 1-second blocks.

    BS.1770 gates 400 ms blocks overlapping by 75 %; one-second blocks make this an
    approximation (within about 1 LU on music), computed from the spectra already at hand.

    Parameters
    ----------
    k_powers : np.ndarray, shape (n_seconds,)
        Mean K-weighted power of each second (full scale = 1).
    """

    def lufs(power: np.ndarray | float) -> np.ndarray:
        return np.asarray(ft.LUFS_OFFSET + 10 * np.log10(np.maximum(power, 1e-30)))

    powers = np.asarray(k_powers, dtype=np.float64)
    gated = powers[lufs(powers) > ABSOLUTE_GATE_LUFS]
    if len(gated) == 0:
        return ft.DB_FLOOR
    relative = float(lufs(gated.mean())) + RELATIVE_GATE_LU
    gated = gated[lufs(gated) > relative]
    return max(float(lufs(gated.mean())), ft.DB_FLOOR)


class Finished(Protocol):
    """What :func:`summarize` reads from a finished :class:`~.stream.StreamingAnalyzer`.

    A protocol rather than the class, so that the stream (which calls the summary) and the
    summary do not import each other.
    """

    @property
    def samplerate(self) -> int: ...
    @property
    def samples(self) -> int: ...
    @property
    def seconds(self) -> list[Second]: ...
    @property
    def onset_envelope(self) -> np.ndarray: ...
    @property
    def frame_rate(self) -> float: ...


def summarize(analyzer: Finished) -> Analysis:
    """Duration, global tempo, key and mode, loudness, overall emotion and sections."""
    seconds = analyzer.seconds
    duration = analyzer.samples / analyzer.samplerate
    audible = [s for s in seconds if not s.silent]

    tempo = NO_TEMPO
    if sum(s.end - s.start for s in audible) >= MIN_GLOBAL_TEMPO_SECONDS:
        tempo = estimate_tempo(
            analyzer.onset_envelope,
            frame_rate=analyzer.frame_rate,
            harmonics=GLOBAL_TEMPO_HARMONICS,
        )
    key = estimate_key(np.sum([s.chroma for s in audible], axis=0)) if audible else None

    lengths = np.array([s.end - s.start for s in seconds])
    levels = np.array([s.loudness_db for s in seconds])
    mean_power = float(np.dot(lengths, 10 ** (levels / 10)) / max(lengths.sum(), 1e-9))
    loudness_db = ft.to_db(mean_power) if seconds else ft.DB_FLOOR

    if audible:
        emotion = indices.classify(
            float(np.mean([s.valence for s in audible])),
            float(np.mean([s.arousal for s in audible])),
        )
    else:
        emotion = indices.silent_emotion()

    sections: list[dict[str, Any]] = []
    if seconds:
        # Bands below the floor are inaudible next to the rest; without it, a few
        # milliseconds of the next part leaking into a second's last frame would make an
        # empty band jump by tens of dB.
        mel_db = np.maximum(np.array([s.mel_db for s in seconds]), SECTION_FLOOR_DB)
        timbre = mel_db / SECTION_TIMBRE_DB
        chroma = np.array([s.chroma for s in seconds]) / SECTION_CHROMA_SHARE
        sections = find_sections(
            np.hstack([timbre, chroma]), levels, ends=np.array([s.end for s in seconds])
        )

    return {
        "duration": round(duration, 6),
        "tempo": {
            "bpm": None if tempo.bpm is None else round(tempo.bpm, 2),
            "confidence": round(tempo.confidence, 4),
        },
        "key": key.key if key else None,
        "mode": key.mode if key else None,
        "key_confidence": round(key.confidence, 4) if key else 0.0,
        "loudness": round(ft.level_scale(loudness_db), 4),
        "loudness_db": round(loudness_db, 2),
        "lufs": round(integrated_loudness(np.array([s.k_power for s in seconds])), 2),
        "emotion": ft.rounded(emotion),
        "sections": [
            {"start": round(x["start"], 3), "end": round(x["end"], 3), "label": x["label"]}
            for x in sections
        ],
        "segment_count": len(seconds),
    }

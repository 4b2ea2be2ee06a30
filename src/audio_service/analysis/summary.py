"""Song-level results computed once the stream has ended."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from audio_service.analysis import features as ft
from audio_service.analysis import indices, keychroma
from audio_service.analysis.loudness import LoudnessMeter
from audio_service.analysis.rhythm import NO_RHYTHM, Rhythm, analyse_rhythm
from audio_service.analysis.sections import find_sections
from audio_service.analysis.segment import Second
from audio_service.analysis.tonal import estimate_key
from audio_service.protocol import Analysis, Section

#: Audible seconds needed before a song-level tempo is reported.
MIN_GLOBAL_TEMPO_SECONDS = 4.0
#: Below this music likelihood no key is reported (noise, speech, a sine).
NO_KEY_LIKELIHOOD = 0.1
#: Units of "a clear difference" for section finding: mel-band level (dB) and chroma share.
SECTION_TIMBRE_DB = 6.0
SECTION_CHROMA_SHARE = 0.05
SECTION_FLOOR_DB = -60.0
SECTION_TEMPO_OCTAVES = 0.14
SECTION_LEVEL_DB = 3.0


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
    def frame_log(self) -> np.ndarray: ...
    @property
    def frame_rate(self) -> float: ...
    @property
    def key_chroma(self) -> tuple[np.ndarray, np.ndarray, float]: ...
    @property
    def loudness(self) -> LoudnessMeter: ...


def music_likelihood(pulse: float, tonality: float, noisiness: float) -> float:
    """How much a track sounds like music rather than speech, noise or a held sound, 0..1.

    A clear, steady pulse is the strongest sign (speech and noise have onsets but no
    period); tonal clarity adds a little, held tones and pads having it without a pulse.

    Parameters
    ----------
    pulse : float
        Song tempo confidence, 0..1.
    tonality : float
        Best key-profile correlation of the song's chroma, 0..1.
    noisiness : float
        Mean spectral flatness of the audible seconds, 0..1.
    """
    value = pulse * (0.6 + 0.4 * tonality) + 0.2 * tonality * (1.0 - noisiness)
    return min(1.0, max(0.0, value))


def _section_features(seconds: list[Second], rhythm: Rhythm) -> np.ndarray:
    """Per-second rows for section finding, each column in units of a clear difference:
    mel-band levels (6 dB), chroma shares (0.05), tempo (10 %) and level (3 dB)."""
    # Bands below the floor are inaudible next to the rest; without it, a few milliseconds
    # of the next part leaking into a second's last frame would make an empty band jump by
    # tens of dB.
    mel_db = np.maximum(np.array([s.mel_db for s in seconds]), SECTION_FLOOR_DB)
    chroma = np.array([s.chroma for s in seconds])
    centres = np.array([0.5 * (s.start + s.end) for s in seconds])
    tempo = np.zeros(len(seconds))
    if rhythm.curve:
        times, bpm = zip(*rhythm.curve, strict=True)
        tempo = np.interp(centres, times, np.log2(bpm))
    level = np.maximum(np.array([s.loudness_db for s in seconds]), SECTION_FLOOR_DB)
    return np.hstack(
        [
            mel_db / SECTION_TIMBRE_DB,
            chroma / SECTION_CHROMA_SHARE,
            (tempo / SECTION_TEMPO_OCTAVES)[:, None],
            (level / SECTION_LEVEL_DB)[:, None],
        ]
    )


def _sections(analyzer: Finished, rhythm: Rhythm, tuning: float) -> list[Section]:
    """Sections with their own tempo (median of the tempo curve), key and loudness."""
    seconds = analyzer.seconds
    found = find_sections(
        _section_features(seconds, rhythm),
        np.array([s.loudness_db for s in seconds]),
        ends=np.array([s.end for s in seconds]),
        downbeats=np.array(rhythm.downbeats),
    )
    fine, key_times, _ = analyzer.key_chroma
    curve = np.array(rhythm.curve).reshape(-1, 2)
    out: list[Section] = []
    for part in found:
        start, end = float(part["start"]), float(part["end"])
        inside = (curve[:, 0] >= start) & (curve[:, 0] < end)
        rows = fine[(key_times >= start) & (key_times < end)]
        key = estimate_key(keychroma.fold(rows.sum(axis=0), tuning)) if len(rows) else None
        out.append(
            {
                "start": round(start, 3),
                "end": round(end, 3),
                "label": str(part["label"]),
                "tempo": round(float(np.median(curve[inside, 1])), 2) if inside.any() else None,
                "key": key.key if key else None,
                "mode": key.mode if key else None,
                "lufs": round(analyzer.loudness.integrated(start, end), 2),
            }
        )
    return out


def summarize(analyzer: Finished) -> Analysis:
    """Duration, global tempo, key and mode, loudness, overall emotion and sections."""
    seconds = analyzer.seconds
    duration = analyzer.samples / analyzer.samplerate
    audible = [s for s in seconds if not s.silent]

    noisiness = (
        float(np.mean([ft.flatness(10 ** (s.mel_db / 10), s.mel_db) for s in audible]))
        if audible
        else 1.0
    )
    rhythm = NO_RHYTHM
    if sum(s.end - s.start for s in audible) >= MIN_GLOBAL_TEMPO_SECONDS:
        rhythm = analyse_rhythm(
            analyzer.frame_log, frame_rate=analyzer.frame_rate, noisiness=noisiness
        )
    fine, _, tuning = analyzer.key_chroma
    key = estimate_key(keychroma.fold(fine.sum(axis=0), tuning)) if audible and len(fine) else None
    likelihood = music_likelihood(rhythm.confidence, key.clarity if key else 0.0, noisiness)
    if key is not None and likelihood < NO_KEY_LIKELIHOOD:
        key = None
    # A key is a property of music: without a pulse or clear tonality, say so in its
    # confidence (a pad has pitch classes, but nothing establishes which one is home).
    key_confidence = key.confidence * min(1.0, likelihood / 0.5) if key else 0.0

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

    sections = _sections(analyzer, rhythm, tuning) if seconds else []

    return {
        "duration": round(duration, 6),
        "tempo": {
            "bpm": None if rhythm.bpm is None else round(rhythm.bpm, 2),
            "confidence": round(rhythm.confidence, 4),
        },
        "tempo_curve": [{"time": round(t, 3), "bpm": round(b, 2)} for t, b in rhythm.curve],
        "beats": [round(t, 3) for t in rhythm.beats],
        "downbeats": [round(t, 3) for t in rhythm.downbeats],
        "time_signature": rhythm.beats_per_bar,
        "key": key.key if key else None,
        "mode": key.mode if key else None,
        "key_confidence": round(key_confidence, 4),
        "music_likelihood": round(likelihood, 4),
        "loudness": round(ft.level_scale(loudness_db), 4),
        "loudness_db": round(loudness_db, 2),
        "lufs": round(analyzer.loudness.integrated(), 2),
        "emotion": ft.rounded(emotion),
        "sections": sections,
        "segment_count": len(seconds),
    }

"""The two analysers in the table, each reduced to the same estimate dict.

* ``ours``: ``audio_service.analysis.pipeline.analyze_file`` (the service's own analysis).
* ``naive``: the twenty-line librosa script of issue 10: ``librosa.load`` at 22050 Hz mono,
  ``librosa.beat.beat_track`` for tempo and beats, ``chroma_cqt`` summed over the song and
  correlated with the 24 rotated Krumhansl-Kessler profiles for the key, and
  ``librosa.segment.agglomerative`` on the chroma with a fixed number of sections. It has
  no confidence, no meter, no downbeats, no tempo curve (its one tempo stands for the whole
  song), no music likelihood and no loudness.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
#: Krumhansl and Kessler (1982) probe-tone profiles, tonic first.
KK_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
KK_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
#: Sections the naive script asks agglomerative clustering for (our pieces have 4-7).
NAIVE_SECTIONS = 6


def _list(values: Any) -> list[float] | None:
    if values is None:
        return None
    return sorted(float(v) for v in values)


def ours(path: str) -> dict[str, Any]:
    from audio_service.analysis.pipeline import analyze_file

    result = analyze_file(path)
    tempo = result.get("tempo") or {}
    duration = float(result.get("duration") or 0.0)
    edges: set[float] = set()
    for section in result.get("sections") or []:
        edges |= {float(section["start"]), float(section["end"])}
    meter = result.get("time_signature")
    return {
        "tempo": tempo.get("bpm"),
        "tempo_confidence": tempo.get("confidence"),
        "beats": _list(result.get("beats")),
        "downbeats": _list(result.get("downbeats")),
        "meter": int(meter) if meter is not None else None,
        "key": result.get("key"),
        "mode": result.get("mode"),
        "key_confidence": result.get("key_confidence"),
        "boundaries": sorted(e for e in edges if 0.05 < e < duration - 0.05),
        "music_likelihood": result.get("music_likelihood"),
        "tempo_curve": [
            (float(p["time"]), float(p["bpm"])) for p in result.get("tempo_curve") or []
        ],
        "lufs": result.get("lufs"),
    }


def krumhansl_key(chroma: np.ndarray) -> tuple[str, str]:
    """Best-correlated key of a 12-bin pitch-class profile."""
    best = (-2.0, "C", "major")
    for mode, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1])
            best = max(best, (r, PITCH_CLASSES[tonic], mode))
    return best[1], best[2]


def naive(path: str) -> dict[str, Any]:
    import librosa

    y, sr = librosa.load(path, sr=22_050, mono=True)
    tempo, beats = librosa.beat.beat_track(y=y, sr=sr, units="time")
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr)
    key, mode = krumhansl_key(chroma.sum(axis=1))
    bounds = librosa.segment.agglomerative(chroma, NAIVE_SECTIONS)
    times = librosa.frames_to_time(bounds, sr=sr)
    bpm = float(np.atleast_1d(tempo)[0])
    return {
        "tempo": bpm if bpm > 0 else None,
        "tempo_confidence": None,
        "beats": _list(beats),
        "downbeats": None,
        "meter": None,
        "key": key,
        "mode": mode,
        "key_confidence": None,
        "boundaries": [float(t) for t in times if t > 0.05],
        "music_likelihood": None,
        "tempo_curve": None,
        "lufs": None,
    }


IMPLEMENTATIONS = {"ours": ours, "naive": naive}

"""Pieces from music21's bundled corpus (no download): Bach chorales and a Joplin rag.

The score's own notes are placed on our beat grid, so tempo, beats, downbeats (the score's
bar lines) and the section starts we choose (a chorale played twice on different stops, a
rag's strains AABB) are exact. The key is the key signature's major or relative minor,
whichever has the final bass note as tonic (Bach's chorales end on the tonic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.accuracy.music import PITCH_CLASSES, Section, Song


@dataclass(frozen=True)
class Span:
    """Quarter-note offsets [start, end) of the score played as one section on ``programs``."""

    start: float
    end: float
    label: str
    programs: tuple[int, ...]


def _key(score: Any) -> tuple[str, str]:
    from music21 import key

    signature = score.recurse().getElementsByClass(key.KeySignature)[0]
    last_bass = list(score.parts[-1].flatten().notes)[-1]
    final = last_bass.pitches[0].pitchClass
    major = signature.asKey("major").tonic.pitchClass
    minor = signature.asKey("minor").tonic.pitchClass
    if final == major:
        return PITCH_CLASSES[major], "major"
    if final == minor:
        return PITCH_CLASSES[minor], "minor"
    raise ValueError(f"final bass {final} is neither tonic of the key signature")


def render_score(
    work: str,
    spans: list[Span],
    *,
    bpm: float,
    seed: int,
    ritardando: float | None = 0.7,
) -> tuple[Song, dict[str, Any]]:
    """Compose ``work`` (a music21 corpus path) as ``spans``; return the song and its truth.

    The last four quarters slow to ``ritardando`` times the tempo (None: no ritardando).
    """
    from music21 import corpus, meter

    score = corpus.parse(work).stripTies()
    key, mode = _key(score)
    numerator = score.recurse().getElementsByClass(meter.TimeSignature)[0].numerator
    form: list[Section] = []
    for span in spans:
        length = span.end - span.start
        if length != int(length):
            raise ValueError(f"span {span} is not a whole number of quarters")
        form.append(Section(span.label, int(length), bpm))
    if ritardando is not None:
        last = form.pop()
        form.append(Section(last.label, last.bars - 4, bpm))
        form.append(Section(last.label, 4, bpm, bpm * ritardando, boundary=False))
    # One grid step per quarter note; bar lines come from the score below.
    song = Song(form, key, mode, numerator, 1, seed)
    measures = score.parts[0].getElementsByClass("Measure")
    bar_offsets = [float(m.offset) for m in measures if m.paddingLeft == 0]
    downbeats: list[float] = []
    beat = 0.0
    for span in spans:
        parts = list(score.parts)
        for index, part in enumerate(parts):
            program = span.programs[min(index, len(span.programs) - 1)]
            instrument = song.part(f"{span.label}-{index}-{program}", program)
            for element in part.flatten().notes:
                offset = float(element.offset)
                if span.start <= offset < span.end:
                    length = min(float(element.quarterLength), span.end - offset)
                    for pitch in element.pitches:
                        song.note(instrument, pitch.midi, beat + offset - span.start, length, 80)
        downbeats += [
            song.time(beat + o - span.start) for o in bar_offsets if span.start <= o < span.end
        ]
        beat += span.end - span.start
    truth = song.truth()
    truth["downbeats"] = downbeats
    return song, truth

"""The corpus itself: 34 pieces of music and 5 non-music controls, each with its own seed."""

from __future__ import annotations

from typing import Any

from bench.accuracy.classical import Span
from bench.accuracy.corpus import AABA, POP, STRAINS, VERSE_BRIDGE, Piece

ORGAN, STRINGS, PIANO, CHOIR, OOHS, CELLO = 19, 48, 0, 52, 53, 42


def _band(name: str, style: str, key: str, mode: str, bpm: float, seed: int, **kw: Any) -> Piece:
    return Piece(name, "band", seed, style, key, mode, bpm, **kw)


PIECES: list[Piece] = [
    # Bands with drums, bass, chords and a melody.
    _band("pop-C-100", "pop", "C", "major", 100, 1, seconds=62),
    _band("pop-Am-118-fade-in", "pop", "A", "minor", 118, 2, fade_in=10.0, seconds=58),
    _band("house-F#m-124", "house", "F#", "minor", 124, 3, form=VERSE_BRIDGE, seconds=66),
    _band("disco-G-120", "disco", "G", "major", 120, 4, seconds=55),
    _band("rock-Em-120-to-90", "rock", "E", "minor", 120, 5, changes=((3, 90),), seconds=64),
    _band(
        "rock-D-140-live", "rock", "D", "major", 140, 6, form=VERSE_BRIDGE, seconds=56, drift=0.012
    ),
    _band("dnb-Fm-172", "dnb", "F", "minor", 172, 7, seconds=60),
    _band("dnb-Gm-174-fade-out", "dnb", "G", "minor", 174, 8, fade_out=12.0, seconds=62),
    _band("punk-A-190", "punk", "A", "major", 190, 9, seconds=48),
    _band("rock-Bm-165", "rock", "B", "minor", 165, 10, seconds=52),
    _band("funk-Dm-104-live", "funk", "D", "minor", 104, 11, form=AABA, seconds=58, drift=0.01),
    _band("soul-Bb-70-live", "soul", "A#", "major", 70, 12, seconds=70, drift=0.012),
    _band(
        "hiphop-Cm-72-lead-silence", "hiphop", "C", "minor", 72, 13, lead_silence=10.0, seconds=56
    ),
    _band("blues-G-12-8-60", "blues", "G", "major", 60, 14, meter=12, form=AABA, seconds=64),
    _band(
        "jig-D-6-8-116",
        "jig",
        "D",
        "major",
        116,
        15,
        meter=6,
        beats_per_bar=2,
        form=STRAINS,
        seconds=50,
    ),
    _band(
        "jazzwaltz-F-3-4-138-live",
        "jazzwaltz",
        "F",
        "major",
        138,
        16,
        meter=3,
        beats_per_bar=3,
        form=AABA,
        seconds=56,
        drift=0.01,
    ),
    _band("swing-Db-168-live", "swing", "C#", "major", 168, 33, form=AABA, seconds=52, drift=0.01),
    _band("reggae-Gm-74", "reggae", "G", "minor", 74, 34, seconds=66),
    _band("pop-E-110-gap", "pop", "E", "major", 110, 17, gap=(3, 2), seconds=60),
    _band(
        "ballad-Eb-6-8-56",
        "ballad68",
        "D#",
        "major",
        56,
        18,
        meter=6,
        beats_per_bar=2,
        form=AABA,
        seconds=70,
    ),
    _band("pop-Ab-96-ritardando", "pop", "G#", "major", 96, 19, ritardando=0.6, seconds=60),
    _band("soul-C#m-66-to-88", "soul", "C#", "minor", 66, 20, changes=((3, 88),), seconds=70),
    # Without percussion: strings, piano, choir, accordion and fiddle, a waltz.
    _band("strings-D-72", "strings", "D", "major", 72, 21, form=AABA, seconds=66),
    _band("strings-Bb-96", "strings", "A#", "major", 96, 22, form=POP, seconds=60),
    _band(
        "piano-Em-66-fade-out",
        "pianoballad",
        "E",
        "minor",
        66,
        23,
        form=AABA,
        fade_out=12.0,
        seconds=64,
    ),
    _band("choir-F-60", "choir", "F", "major", 60, 24, form=AABA, seconds=64),
    _band("reel-G-200-live", "reel", "G", "major", 200, 25, form=STRAINS, seconds=48, drift=0.01),
    _band(
        "waltz-C-3-4-176",
        "waltz",
        "C",
        "major",
        176,
        26,
        meter=3,
        beats_per_bar=3,
        form=STRAINS,
        ritardando=0.7,
        seconds=56,
    ),
    # music21's corpus: Bach chorales (played twice on different stops) and a Joplin rag.
    Piece(
        "chorale-bwv66.6-organ",
        "score",
        27,
        bpm=84,
        ritardando=0.7,
        work="bach/bwv66.6",
        spans=(Span(1, 36, "A", (ORGAN,)), Span(1, 36, "A'", (STRINGS, STRINGS, STRINGS, CELLO))),
    ),
    Piece(
        "chorale-bwv269-strings-3-4",
        "score",
        28,
        bpm=96,
        ritardando=0.7,
        work="bach/bwv269",
        spans=(Span(1, 63, "A", (STRINGS, STRINGS, STRINGS, CELLO)), Span(1, 63, "A'", (ORGAN,))),
    ),
    Piece(
        "chorale-bwv418-piano",
        "score",
        29,
        bpm=80,
        ritardando=0.7,
        work="bach/bwv418",
        spans=(Span(1, 64, "A", (PIANO,)),),
    ),
    Piece(
        "chorale-bwv366-choir-3-4",
        "score",
        30,
        bpm=90,
        ritardando=0.7,
        work="bach/bwv366",
        spans=(Span(0, 48, "A", (CHOIR,)), Span(0, 48, "A'", (OOHS, OOHS, OOHS, ORGAN))),
    ),
    Piece(
        "chorale-bwv86.6-oohs",
        "score",
        31,
        bpm=84,
        ritardando=0.7,
        work="bach/bwv86.6",
        spans=(Span(1, 40, "A", (OOHS,)), Span(1, 40, "A'", (STRINGS, STRINGS, STRINGS, CELLO))),
    ),
    Piece(
        "rag-maple-leaf-AABB",
        "score",
        32,
        bpm=100,
        work="joplin/maple_leaf_rag",
        spans=(
            Span(0.5, 32.5, "A", (PIANO,)),
            Span(0.5, 32.5, "A", (PIANO,)),
            Span(32.5, 64.5, "B", (PIANO,)),
            Span(32.5, 64.5, "B", (PIANO,)),
        ),
    ),
    # Non-music controls.
    Piece("control-speech", "control", 41, style="speech"),
    Piece("control-pink-noise", "control", 42, style="pink-noise"),
    Piece("control-pulseless-pad", "control", 43, style="pulseless-pad"),
    Piece("control-sustained-tone", "control", 44, style="sustained-tone"),
    Piece("control-rain", "control", 45, style="rain"),
]

#: A quick subset covering every class, for iterating on the analysis.
QUICK = (
    "pop-C-100",
    "rock-Em-120-to-90",
    "dnb-Fm-172",
    "soul-Bb-70-live",
    "jazzwaltz-F-3-4-138-live",
    "hiphop-Cm-72-lead-silence",
    "strings-D-72",
    "chorale-bwv66.6-organ",
    "control-speech",
    "control-pulseless-pad",
)

"""Band arrangements on a :class:`~bench.accuracy.music.Song`: drums, bass, chords, pad, melody.

A style fixes the instruments and rhythms; the section label fixes the harmony, the melody
and the texture, so a section that returns (a chorus, a strain) returns with the same
material, as in real songs. Every random choice comes from seeded generators.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
from bench.accuracy.music import Song

DRUMS = {"kick": 36, "side": 37, "snare": 38, "clap": 39, "hat": 42, "pedal": 44, "open": 46}
DRUMS |= {"crash": 49, "ride": 51, "tamb": 54, "tom": 45, "shaker": 70}
#: Pattern characters: accent, normal, ghost, rest.
HIT_VELOCITY = {"X": 112, "x": 92, "o": 58}
#: Chord progressions (scale degrees, one chord per harmonic step) per mode and label kind.
PROGRESSIONS = {
    "major": [[0, 5, 3, 4], [3, 0, 4, 5], [5, 3, 0, 4], [0, 3, 4, 0], [0, 4, 5, 3], [1, 4, 0, 0]],
    "minor": [[0, 5, 2, 6], [0, 3, 4, 0], [5, 6, 0, 0], [0, 6, 5, 4], [3, 4, 0, 5], [0, 2, 3, 4]],
}
LABEL_PROGRESSION = {"intro": 3, "verse": 0, "chorus": 1, "bridge": 2, "outro": 3}
LABEL_PROGRESSION |= {"A": 0, "B": 1, "C": 2, "D": 4}


@dataclass(frozen=True)
class Style:
    """Instruments (GM programs) and rhythms of one kind of band."""

    steps: int  # drum-pattern steps per beat: 4 (sixteenths) or 3 (compound eighths)
    drums: dict[str, str] = field(default_factory=dict)  # drum -> one bar of pattern
    bass: str = "pop"
    bass_program: int = 33
    chords: str = "block"
    chord_program: int = 0
    chorus_program: int | None = 48
    pad_program: int | None = 89
    lead_program: int | None = 73
    beats_per_chord: int = 4


ROCK = {"kick": "x.......x.x.....", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."}
STYLES: dict[str, Style] = {
    "pop": Style(
        4,
        {"kick": "x.....x.x.......", "snare": "....X.......X...", "hat": "x.o.x.o.x.o.x.o."},
        chord_program=0,
        lead_program=73,
    ),
    "rock": Style(4, ROCK, "root8", 34, "strum8", 29, 30, None, 65),
    "punk": Style(4, ROCK, "root8", 34, "strum8", 30, 30, None, None),
    "dnb": Style(
        4,
        {"kick": "x.........x.....", "snare": "....X..o....X..o", "hat": "xoxoxoxoxoxoxoxo"},
        "sub",
        38,
        "block",
        89,
        91,
        None,
        81,
        beats_per_chord=8,
    ),
    "house": Style(
        4,
        {"kick": "x...x...x...x...", "clap": "....x.......x...", "open": "..x...x...x...x."},
        "offbeat",
        38,
        "stabs",
        4,
        89,
        88,
        80,
    ),
    "disco": Style(
        4,
        {"kick": "x...x...x...x...", "snare": "....X.......X...", "open": "..x...x...x...x."},
        "octave",
        33,
        "strum8",
        27,
        48,
        None,
        56,
    ),
    "soul": Style(
        4,
        {"kick": "x......x..x.....", "snare": "....X.......X...", "hat": "xoxoxoxoxoxoxoxo"},
        "pop",
        33,
        "comp",
        4,
        48,
        None,
        65,
    ),
    "hiphop": Style(
        4,
        {"kick": "x.....x...x.....", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        "sub",
        38,
        "comp",
        4,
        48,
        89,
        80,
    ),
    "funk": Style(
        4,
        {"kick": "x..x..x...x..x..", "snare": "....X..o.o..X...", "hat": "xoxoxoxoxoxoxoxo"},
        "octave",
        33,
        "stabs",
        27,
        61,
        None,
        56,
        beats_per_chord=2,
    ),
    "jazzwaltz": Style(
        4,
        {"ride": "x...x..xx...", "pedal": "....x...x...", "kick": "x..........."},
        "walk",
        32,
        "oompah",
        0,
        48,
        None,
        65,
        beats_per_chord=3,
    ),
    "jig": Style(
        3,
        {"kick": "x.....", "tom": "x.ox.o", "snare": "...x..", "shaker": "xoxxox"},
        "compound",
        32,
        "arp",
        24,
        21,
        None,
        40,
        beats_per_chord=2,
    ),
    "blues": Style(
        3,
        {"kick": "x.....x.....", "snare": "...X.....X..", "ride": "xoxxoxxoxxox"},
        "compound",
        33,
        "arp",
        0,
        16,
        None,
        29,
    ),
    "ballad68": Style(
        3,
        {"kick": "x.....", "side": "...x..", "hat": "xoxxox"},
        "compound",
        33,
        "arp",
        0,
        48,
        89,
        71,
        beats_per_chord=2,
    ),
    # Swung eighths: each beat split in three, the ride on the first and third.
    "swing": Style(
        3,
        {"ride": "x..x.xx..x.x", "pedal": "...x.....x..", "kick": "x..........."},
        "walk",
        32,
        "comp",
        0,
        61,
        None,
        65,
    ),
    # One drop: kick and rim together on beat 3 only; the guitar skanks on the off-beats.
    "reggae": Style(
        4,
        {"kick": "........x.......", "side": "........x.......", "hat": "x.x.x.x.x.x.x.x."},
        "pop",
        33,
        "stabs",
        27,
        16,
        None,
        56,
    ),
    "pianoballad": Style(4, {}, "none", 0, "arp", 0, None, None, None),
    "strings": Style(4, {}, "sub", 42, "block", 48, 49, None, 40, beats_per_chord=2),
    "choir": Style(4, {}, "sub", 52, "block", 52, 53, 91, None, beats_per_chord=2),
    "reel": Style(4, {}, "compound", 32, "oompah", 21, 21, None, 40, beats_per_chord=2),
    "waltz": Style(3, {}, "oompah", 32, "oompah", 45, 48, None, 40, beats_per_chord=3),
}


def _seeded(song: Song, *parts: object) -> np.random.Generator:
    """A generator fixed by the song's seed and the given names (a label's own material)."""
    return np.random.default_rng([song.seed, zlib.crc32(repr(parts).encode())])


def _drums(song: Song, style: Style, start: int, bars: int, label: str) -> None:
    kit = song.part("drums", 0, drum=True)
    light = label in ("intro", "bridge", "outro")
    bpb = song.beats_per_bar
    for bar in range(bars):
        first = start + bar * bpb
        for name, pattern in style.drums.items():
            if light and name in ("kick", "snare", "clap", "tom"):
                continue
            steps = len(pattern)
            for i, ch in enumerate(pattern):
                if ch in HIT_VELOCITY:
                    song.note(kit, DRUMS[name], first + i * bpb / steps, 0.25, HIT_VELOCITY[ch])
        if bar == 0 and label in ("chorus", "B", "C"):
            song.note(kit, DRUMS["crash"], first, 2, 105)
        if bar == bars - 1 and not light:
            # A fill into the next section: snare on each step of the last beat.
            for i in range(style.steps):
                song.note(kit, DRUMS["snare"], first + bpb - 1 + i / style.steps, 0.2, 70 + 10 * i)


def _bass(song: Song, style: Style, beat: float, length: int, degree: int) -> None:
    if style.bass == "none":
        return
    bass = song.part("bass", style.bass_program)
    root = song.scale(degree, -1) if song.tonic >= 54 else song.scale(degree, 0) - 12
    fifth = song.chord(degree, -1)[2]
    rhythms: dict[str, list[tuple[float, float, int]]] = {
        "root8": [(i / 2, 0.45, root) for i in range(2 * length)],
        "sub": [(0, length, root)],
        "offbeat": [(i + 0.5, 0.4, root) for i in range(length)],
        "octave": [(i / 2, 0.4, root + 12 * (i % 2)) for i in range(2 * length)],
        "compound": [(i, 0.9, root if i % 2 == 0 else fifth) for i in range(length)],
        "walk": [(i, 0.9, song.chord(degree, -1)[i % 3]) for i in range(length)],
        "oompah": [(i, 0.9, root if i % 2 == 0 else fifth) for i in range(0, length, 3)],
        "pop": [(0, 1.4, root), (1.5, 0.5, root), (2, 0.9, fifth), (3.5, 0.4, root)],
    }
    for offset, dur, pitch in rhythms[style.bass]:
        if offset < length:
            song.note(bass, pitch, beat + offset, min(dur, length - offset), 88)


def _chords(song: Song, style: Style, beat: float, length: int, degree: int, label: str) -> None:
    program = style.chord_program
    if label in ("chorus", "B") and style.chorus_program is not None:
        program = style.chorus_program
    part = song.part(f"chords{program}", program)
    notes = song.chord(degree, 1)
    kind = style.chords if program == style.chord_program else "block"
    hits: list[tuple[float, float, list[int]]]
    if kind == "block":
        hits = [(0, length, notes)]
    elif kind == "strum8":
        power = [notes[0], notes[0] + 7, notes[0] + 12]
        hits = [(i / 2, 0.4, power) for i in range(2 * length)]
    elif kind == "stabs":
        hits = [(i + 0.5, 0.3, notes) for i in range(length)]
    elif kind == "oompah":
        hits = [(i, 0.6, notes) for i in range(length) if i % song.beats_per_bar]
    elif kind == "comp":
        hits = [(i, 0.9 if i % 2 == 0 else 0.4, notes) for i in range(length)]
    else:  # arp: chord tones up and down on every step of a compound beat or every eighth
        per = 3 if style.steps == 3 else 2
        order = [*notes, notes[0] + 12, notes[2], notes[1]]
        hits = [(i / per, 1.0 / per, [order[i % len(order)]]) for i in range(per * length)]
    for offset, dur, chord in hits:
        for pitch in chord:
            song.note(part, pitch, beat + offset, dur, 72)
    if style.pad_program is not None and label not in ("verse", "A"):
        pad = song.part("pad", style.pad_program)
        for pitch in notes:
            song.note(pad, pitch - 12, beat, length, 55, humanise=False)


def _melody(song: Song, style: Style, start: int, bars: int, label: str, degrees: list[int]):
    if style.lead_program is None or label in ("intro", "outro"):
        return
    lead = song.part("lead", style.lead_program)
    rng = _seeded(song, "melody", label)
    bpb = song.beats_per_bar
    unit = 1 / 3 if style.steps == 3 else 1 / 2
    octave = 2 if label in ("chorus", "B") else 1
    position = 0
    for bar in range(bars):
        degree = degrees[(bar * bpb // style.beats_per_chord) % len(degrees)]
        t = 0.0
        while t < bpb - 1e-9:
            length = float(rng.choice([1, 2, 2, 3, 4])) * unit
            length = min(length, bpb - t)
            if t == 0:
                position = degree + int(rng.choice([0, 2, 4]))
            else:
                position += int(rng.choice([-2, -1, -1, 1, 1, 2]))
                position = int(np.clip(position, -2, 9))
            if rng.random() > 0.12:
                song.note(lead, song.scale(position, octave), start + bar * bpb + t, length, 84)
            t += length


def arrange(song: Song, style_name: str) -> None:
    """Compose every part of every section of ``song`` in ``style_name``."""
    style = STYLES[style_name]
    for first, section in song.sections():
        if section.silent:
            continue
        label = section.label
        choice = LABEL_PROGRESSION.get(label, 4)
        degrees = PROGRESSIONS[song.mode][choice]
        length = section.bars * song.beats_per_bar
        per = style.beats_per_chord
        for i, beat in enumerate(range(first, first + length, per)):
            degree = degrees[i % len(degrees)]
            _chords(song, style, beat, min(per, first + length - beat), degree, label)
            _bass(song, style, beat, min(per, first + length - beat), degree)
        if style.drums:
            _drums(song, style, first, section.bars, label)
        _melody(song, style, first, section.bars, label, degrees)

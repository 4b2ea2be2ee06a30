"""A small composition toolkit: a beat grid from a tempo map, keys, chords, humanised notes.

Notes are placed on the beat grid (beat numbers, fractions allowed) and converted to seconds
through the grid, so the ground truth (beat and downbeat times, tempo, meter, key, section
starts) is exactly what the MIDI says, including tempo changes and ritardandi.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pretty_midi

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
#: Timing spread of a human player (s): well inside the +-70 ms beat tolerance.
TIMING_JITTER = 0.006
VELOCITY_JITTER = 7.0
#: Parts left in the centre of the stereo image, as a mix engineer leaves them.
CENTRED = ("drums", "bass", "lead")


@dataclass
class Section:
    """A formal section: label, length in bars, tempo at its start and (ritardando) end."""

    label: str
    bars: int
    bpm: float
    end_bpm: float | None = None
    #: Digital silence: every part rests and the render is zeroed over the section.
    silent: bool = False
    #: False for a continuation (a closing ritardando) that an annotator would not mark.
    boundary: bool = True


@dataclass
class Song:
    """The beat grid of a form plus the MIDI parts composed on it."""

    form: list[Section]
    key: str
    mode: str
    #: Time-signature numerator (4, 3, 6, 12) and counted beats per bar (6/8 -> 2).
    meter: int
    beats_per_bar: int
    seed: int
    #: Relative spread of a live band's slow tempo wander (0: a click track's steadiness).
    drift: float = 0.0
    grid: np.ndarray = field(init=False)
    midi: pretty_midi.PrettyMIDI = field(init=False)
    rng: np.random.Generator = field(init=False)
    parts: dict[str, pretty_midi.Instrument] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        total = sum(s.bars for s in self.form) * self.beats_per_bar
        # The wander: a random value per bar, smoothly interpolated across the beats.
        knots = np.random.default_rng([self.seed, 1]).normal(0, self.drift, total // 4 + 2)
        wander = np.interp(np.arange(total) / 4, np.arange(len(knots)), knots)
        times = [0.0]
        for section in self.form:
            n = section.bars * self.beats_per_bar
            end = section.end_bpm or section.bpm
            for i in range(n):
                # The tempo glides linearly across the section's beats (a ritardando).
                bpm = section.bpm + (end - section.bpm) * (i + 0.5) / n
                times.append(times[-1] + 60.0 / (bpm * (1 + wander[len(times) - 1])))
        self.grid = np.array(times)
        self.midi = pretty_midi.PrettyMIDI(resolution=960, initial_tempo=self.form[0].bpm)
        self.rng = np.random.default_rng(self.seed)

    # -- time ------------------------------------------------------------------------------
    def time(self, beat: float) -> float:
        """Seconds of a (fractional) beat number."""
        i = int(np.clip(np.floor(beat), 0, len(self.grid) - 2))
        return float(self.grid[i] + (beat - i) * (self.grid[i + 1] - self.grid[i]))

    def sections(self) -> list[tuple[int, Section]]:
        """Each section with its first beat number."""
        out, beat = [], 0
        for section in self.form:
            out.append((beat, section))
            beat += section.bars * self.beats_per_bar
        return out

    @property
    def duration(self) -> float:
        return float(self.grid[-1])

    # -- notes -----------------------------------------------------------------------------
    def part(self, name: str, program: int, *, drum: bool = False) -> pretty_midi.Instrument:
        if name not in self.parts:
            part = pretty_midi.Instrument(program=program, is_drum=drum, name=name)
            spread = zlib.crc32(name.encode()) % 61 - 30
            pan = 64 if name in CENTRED else 64 + spread
            reverb = 50 + spread // 2
            part.control_changes += [
                pretty_midi.ControlChange(10, pan, 0.0),
                pretty_midi.ControlChange(91, reverb, 0.0),
            ]
            self.parts[name] = part
            self.midi.instruments.append(part)
        return self.parts[name]

    def note(
        self,
        part: pretty_midi.Instrument,
        pitch: int,
        beat: float,
        length: float,
        velocity: float,
        *,
        humanise: bool = True,
    ) -> None:
        """A note from ``beat`` lasting ``length`` beats, with human timing and velocity."""
        start, end = self.time(beat), self.time(beat + length)
        if humanise:
            start += float(self.rng.normal(0, TIMING_JITTER))
            velocity += float(self.rng.normal(0, VELOCITY_JITTER))
        start = max(0.0, start)
        end = max(start + 0.03, end - 0.01)
        vel = int(np.clip(round(velocity), 1, 127))
        part.notes.append(pretty_midi.Note(vel, int(pitch), start, end))

    # -- harmony ---------------------------------------------------------------------------
    @property
    def tonic(self) -> int:
        """MIDI number of the tonic in octave 3 (C3 = 48)."""
        return 48 + PITCH_CLASSES.index(self.key)

    def scale(self, degree: int, octave: int = 0) -> int:
        """MIDI pitch of a scale degree (0 = tonic; may exceed 6 or go negative)."""
        steps = MAJOR if self.mode == "major" else MINOR
        return self.tonic + 12 * (octave + degree // 7) + steps[degree % 7]

    def chord(self, degree: int, octave: int = 0) -> list[int]:
        """Root-position triad on a degree; in minor the dominant is major (harmonic minor)."""
        notes = [self.scale(degree + k, octave) for k in (0, 2, 4)]
        if self.mode == "minor" and degree % 7 == 4:
            notes[1] += 1
        return notes

    # -- truth -----------------------------------------------------------------------------
    def truth(self) -> dict[str, Any]:
        """Ground truth in seconds: beats, downbeats, dominant tempo, meter, key, boundaries."""
        silent = [
            (self.grid[b], self.grid[b + s.bars * self.beats_per_bar])
            for b, s in self.sections()
            if s.silent
        ]

        def sounding(t: float) -> bool:
            return not any(a - 1e-6 <= t < b - 1e-6 for a, b in silent)

        beats = [float(t) for t in self.grid[:-1] if sounding(t)]
        downbeats = [float(t) for t in self.grid[: -1 : self.beats_per_bar] if sounding(t)]
        periods = np.diff(self.grid)
        keep = np.array([sounding(t) for t in self.grid[:-1]])
        bpm = 60.0 / periods[keep]
        # Dominant tempo: the time-weighted median of the per-beat tempo.
        order = np.argsort(bpm)
        weights = np.cumsum(periods[keep][order])
        dominant = float(bpm[order][np.searchsorted(weights, weights[-1] / 2)])
        boundaries = [float(self.grid[b]) for b, s in self.sections()[1:] if s.boundary]
        return {
            "duration": self.duration,
            "tempo": round(dominant, 3),
            "beats": beats,
            "downbeats": downbeats,
            "meter": self.meter,
            "key": self.key,
            "mode": self.mode,
            "boundaries": boundaries,
            "silences": [[float(a), float(b)] for a, b in silent],
        }

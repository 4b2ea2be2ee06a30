"""The accuracy corpus: what a piece is made of, and how it is rendered with its truth.

Music is composed as MIDI (``styles`` for bands, ``classical`` for music21's scores),
rendered by FluidSynth with the FluidR3 General MIDI soundfont, then given its fades or
silences; the controls come from ``controls``. :mod:`bench.accuracy.cache` keeps the
renders.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import soundfile as sf
from bench.accuracy import controls
from bench.accuracy.classical import Span, render_score
from bench.accuracy.music import Section, Song
from bench.accuracy.styles import STYLES, arrange

SR = 44_100
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
FLUIDSYNTH = "fluidsynth"
#: Seconds rendered past the last beat, so the final chord decays naturally.
TAIL = 1.5
BASE_BARS = {"intro": 4, "outro": 4}
POP = ("intro", "verse", "chorus", "verse", "chorus", "outro")
AABA = ("A", "A", "B", "A")
STRAINS = ("A", "A", "B", "B", "A")
VERSE_BRIDGE = ("intro", "verse", "chorus", "bridge", "chorus", "outro")


@dataclass(frozen=True)
class Piece:
    """One corpus entry; ``kind`` is "band", "score" or "control"."""

    name: str
    kind: str
    seed: int
    style: str = ""
    key: str = ""
    mode: str = "major"
    bpm: float = 120.0
    form: tuple[str, ...] = POP
    meter: int = 4
    beats_per_bar: int = 4
    seconds: float = 60.0
    #: Section index -> new tempo from that section on (a tempo change).
    changes: tuple[tuple[int, float], ...] = ()
    #: Final section slows to this fraction of the tempo (a ritardando).
    ritardando: float | None = None
    #: (section index, bars): that many bars of digital silence before that section.
    gap: tuple[int, int] | None = None
    fade_in: float = 0.0
    fade_out: float = 0.0
    lead_silence: float = 0.0
    #: A live band's tempo wander (relative spread, see :class:`Song`).
    drift: float = 0.0
    work: str = ""
    spans: tuple[Span, ...] = field(default_factory=tuple)


def _band(p: Piece) -> Song:
    bar_seconds = p.beats_per_bar * 60.0 / p.bpm
    base = [BASE_BARS.get(label, 8) for label in p.form]
    scale = p.seconds / (sum(base) * bar_seconds)
    form: list[Section] = []
    bpm = p.bpm
    changes = dict(p.changes)
    for i, (label, bars) in enumerate(zip(p.form, base, strict=True)):
        bpm = changes.get(i, bpm)
        if p.gap is not None and p.gap[0] == i:
            form.append(Section("silence", p.gap[1], bpm, silent=True))
        form.append(Section(label, max(2, 2 * round(bars * scale / 2)), bpm))
    if p.ritardando is not None:
        last = form[-1]
        form[-1] = Section(last.label, last.bars, last.bpm, last.bpm * p.ritardando)
    song = Song(form, p.key, p.mode, p.meter, p.beats_per_bar, p.seed, p.drift)
    arrange(song, p.style)
    return song


def _fluidsynth(song: Song, seconds: float) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "piece.mid", Path(tmp) / "piece.wav"
        song.midi.write(str(mid))
        command = [FLUIDSYNTH, "-ni", "-q", "-g", "0.5", "-r", str(SR), "-O", "float"]
        subprocess.run([*command, "-F", str(wav), str(SOUNDFONT), str(mid)], check=True)
        audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    assert sr == SR, sr
    n = int(seconds * SR)
    return np.pad(audio, ((0, max(0, n - len(audio))), (0, 0)))[:n]


def _shape(audio: np.ndarray, p: Piece, truth: dict[str, Any]) -> np.ndarray:
    """Fades, zeroed silent sections and a leading silence; truth shifted to match."""
    t = np.arange(len(audio)) / SR
    gain = np.ones(len(audio))
    music_end = truth["duration"]
    if p.fade_in:
        gain *= np.clip(t / p.fade_in, 0, 1) ** 2
    if p.fade_out:
        gain *= np.clip((music_end - t) / p.fade_out, 0, 1) ** 2
    for start, end in truth["silences"]:
        # A 50 ms release before the cut, so the silence is digital but not a click.
        gain *= np.clip((start - t) / 0.05, 0, 1) + (t >= end)
    audio = audio * gain[:, None]
    if p.lead_silence:
        audio = np.concatenate([np.zeros((int(p.lead_silence * SR), 2)), audio])
        shift = p.lead_silence
        for name in ("beats", "downbeats"):
            truth[name] = [x + shift for x in truth[name]]
        truth["boundaries"] = [shift] + [x + shift for x in truth["boundaries"]]
        truth["silences"] = [[0.0, shift]] + [[a + shift, b + shift] for a, b in truth["silences"]]
    return (0.89 * audio / max(float(np.max(np.abs(audio))), 1e-9)).astype(np.float32)


def render(p: Piece) -> tuple[np.ndarray, dict[str, Any]]:
    """Audio (frames, channels) at :data:`SR` and the ground-truth dict of one piece."""
    if p.kind == "control":
        mono = controls.CONTROLS[p.style](p.seed)
        audio = np.repeat(mono[:, None], 2, axis=1)
        truth: dict[str, Any] = {"tempo": None, "beats": [], "downbeats": [], "meter": None}
        truth |= {"key": None, "mode": None, "boundaries": [], "silences": []}
    else:
        if p.kind == "band":
            song = _band(p)
            truth = song.truth()
        else:
            song, truth = render_score(
                p.work, list(p.spans), bpm=p.bpm, seed=p.seed, ritardando=p.ritardando
            )
        audio = _shape(_fluidsynth(song, song.duration + TAIL), p, truth)
    truth["duration"] = len(audio) / SR
    # The reference the service's BS.1770-4 meter is compared with (not a composed truth).
    truth["lufs_reference"] = float(pyloudnorm.Meter(SR).integrated_loudness(audio))
    truth["name"] = p.name
    truth["music"] = p.kind != "control"
    truth["tags"] = tags(p, truth)
    return audio, truth


def tags(p: Piece, truth: dict[str, Any]) -> list[str]:
    """The classes a piece counts in, derived from its truth and arrangement."""
    if p.kind == "control":
        return ["control"]
    out = []
    drums = p.kind == "band" and bool(STYLES[p.style].drums)
    out.append("percussion" if drums else "no percussion")
    if truth["tempo"] >= 160:
        out.append("fast (>=160 BPM)")
    if truth["tempo"] <= 75:
        out.append("slow (<=75 BPM)")
    if truth["meter"] in (3, 6, 9, 12):
        out.append("triple/compound")
    if p.changes or p.ritardando:
        out.append("tempo change/rit.")
    if p.fade_in or p.fade_out or p.lead_silence or p.gap:
        out.append("silence/fade")
    if p.drift:
        out.append("live (tempo wander)")
    return out

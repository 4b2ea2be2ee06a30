"""Heuristic brain-region, brainwave and emotion indices derived from measured features.

These are NOT measurements of a brain. Nobody's brain was scanned; each value is a fixed,
documented rule over features of the sound (loudness, pulse clarity, mode, ...), leaning on
a published finding that links such a feature to a region, rhythm or emotion *on average*
in groups of listeners. Treat them as descriptive scores in 0..1 (docs/ANALYSIS.md lists
every rule, its source and where the evidence is weak).

All inputs are already scaled to 0..1 by the analyzer; every output is clipped to 0..1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Emotion prototypes in the (valence, arousal) plane, both 0..1, after Russell's (1980)
#: circumplex: the label of the nearest prototype wins.
EMOTIONS: dict[str, tuple[float, float]] = {
    "happy": (0.85, 0.65),
    "excited": (0.75, 0.85),
    "energetic": (0.55, 0.95),
    "uplifting": (0.75, 0.45),
    "peaceful": (0.75, 0.15),
    "calm": (0.55, 0.25),
    "melancholic": (0.35, 0.3),
    "sad": (0.15, 0.2),
    "fearful": (0.2, 0.6),
    "tense": (0.35, 0.7),
    "angry": (0.15, 0.9),
}


@dataclass(frozen=True)
class Measures:
    """One second's (or one song's) measured features, each scaled to 0..1."""

    loudness: float  #: RMS level on the 60 dB scale of docs/ANALYSIS.md
    brightness: float  #: spectral centroid, 250 Hz -> 0, 8 kHz -> 1 (log scale)
    onset: float  #: onset strength
    pulse: float  #: beat strength (autocorrelation at the beat lag)
    tempo: float | None  #: BPM, None when unknown
    tempo_confidence: float
    majorness: float  #: 1 clearly major, 0 clearly minor, 0.5 undecided
    clarity: float  #: key clarity (fit to a key profile), a consonance proxy
    noisiness: float  #: spectral flatness
    novelty: float  #: spectral change from the previous second
    peak: float  #: loudness above the preceding seconds (a climax), 0 when not louder
    silent: bool = False


def _clip(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _tempo_drive(m: Measures) -> float:
    """0 at 60 BPM or slower, 1 at 180 BPM or faster, weighted by how sure the tempo is."""
    if m.tempo is None:
        return 0.0
    return _clip((m.tempo - 60.0) / 120.0) * m.tempo_confidence


def _tempo_preference(m: Measures) -> float:
    """Peaks at about 120 BPM, the preferred tempo for moving to music (Moelants 2002)."""
    if m.tempo is None:
        return 0.0
    return math.exp(-0.5 * (math.log2(m.tempo / 120.0) / 0.5) ** 2) * m.tempo_confidence


def arousal(m: Measures) -> float:
    """Arousal index, 0..1.

    Loudness, tempo, rhythmic accentuation and brightness are the features that most
    consistently raise felt and physiological arousal (Gomez & Danuser 2007); Trost et al.
    (2012) found arousal, with valence, organising the brain responses to music-evoked
    emotions.
    """
    if m.silent:
        return 0.0
    return _clip(0.35 * m.loudness + 0.25 * m.onset + 0.2 * m.brightness + 0.2 * _tempo_drive(m))


def valence(m: Measures) -> float:
    """Valence index, 0 (negative) .. 1 (positive), 0.5 neutral.

    Mode (major positive, minor negative; Hevner 1935) and consonance (Koelsch et al. 2006:
    consonant music rated pleasant, dissonant unpleasant) carry most of it; faster tempo
    adds a little positive valence (Gomez & Danuser 2007). Trost et al. (2012) treat valence
    as the second axis next to arousal.
    """
    if m.silent:
        return 0.5
    return _clip(
        0.45 * m.majorness + 0.3 * m.clarity + 0.1 * _tempo_drive(m) + 0.15 * (1.0 - m.noisiness)
    )


#: The brain-region indices of every segment, in the order the docs list them.
REGIONS = (
    "auditory_cortex",
    "amygdala",
    "hippocampus",
    "nucleus_accumbens",
    "motor_cortex",
    "prefrontal_cortex",
    "basal_ganglia",
)


def brain_regions(m: Measures, *, a: float, v: float) -> dict[str, float]:
    """Seven region indices, each 0..1; all 0 in silence (``a``, ``v``: arousal, valence)."""
    if m.silent:
        return dict.fromkeys(REGIONS, 0.0)
    # Every listener-side index scales with how audible the sound is at all.
    presence = _clip(3.0 * m.loudness)
    return {
        # Auditory-cortex BOLD response grows with sound intensity (Jancke et al. 1998) and
        # with spectro-temporal change.
        "auditory_cortex": _clip(0.6 * m.loudness + 0.2 * m.onset + 0.2 * m.brightness),
        # Dissonant, unpleasant music raises amygdala activity (Koelsch et al. 2006); the
        # amygdala is a hub of music-evoked emotion, unpleasant and unexpected events
        # included (Koelsch 2014).
        "amygdala": presence
        * _clip(0.4 * (1.0 - m.clarity) + 0.2 * m.noisiness + 0.2 * (1.0 - v) + 0.2 * m.novelty),
        # The hippocampus takes part in tender, low-arousal positive emotions and in
        # music-evoked memory (Koelsch 2014).
        "hippocampus": presence * _clip(0.4 * m.clarity + 0.3 * (1.0 - a) + 0.3 * v),
        # Dopamine release in the nucleus accumbens peaks at moments of peak pleasure
        # (Salimpoor et al. 2011); pleasant consonant music engages the ventral striatum
        # (Koelsch et al. 2006).
        "nucleus_accumbens": presence * _clip(0.4 * v + 0.4 * m.peak + 0.2 * m.pulse),
        # Premotor and supplementary motor areas respond to beat-based rhythm (Grahn & Brett
        # 2007), most for tempi people like to move to.
        "motor_cortex": presence
        * _clip(0.5 * m.pulse + 0.3 * m.onset + 0.2 * _tempo_preference(m)),
        # Violations of musical expectancy engage inferior frontal cortex (Maess et al. 2001;
        # reviewed in Koelsch 2014): here, change from the previous second and tonal
        # ambiguity stand in for the unexpected.
        "prefrontal_cortex": presence
        * _clip(0.5 * m.novelty + 0.3 * (1.0 - m.clarity) + 0.2 * m.onset),
        # The putamen responds to a regular, felt beat (Grahn & Brett 2007) and couples with
        # premotor cortex when a beat is present (Grahn & Rowe 2009).
        "basal_ganglia": presence * _clip(0.7 * m.pulse + 0.3 * m.tempo_confidence),
    }


def brainwaves(m: Measures, *, a: float, v: float) -> dict[str, float]:
    """Shares of five EEG bands, summing to 1.

    The weakest evidence of all the indices: music does not set a listener's EEG spectrum
    in any simple way, and claims of entrainment by binaural beats are not well supported.
    In silence the shares are equal (no stimulus, no information).
    """
    if m.silent:
        return dict.fromkeys(("delta", "theta", "alpha", "beta", "gamma"), 0.2)
    raw = {
        # Cortical activity follows the beat: steady-state EEG responses appear at the beat
        # frequency (Nozaradan et al. 2011), which for 40-240 BPM lies in delta (0.7-4 Hz).
        "delta": 0.1 + m.pulse * m.tempo_confidence,
        # Frontal-midline theta rises with pleasant music (Sammler et al. 2007).
        "theta": 0.1 + 0.5 * v,
        # Alpha is the relaxed-wakefulness rhythm; it falls as arousal rises (Berger effect).
        "alpha": 0.1 + 0.6 * (1.0 - a),
        # Beta and gamma accompany alertness and high arousal.
        "beta": 0.1 + 0.6 * a,
        "gamma": 0.05 + 0.4 * a * m.brightness,
    }
    total = sum(raw.values())
    return {name: value / total for name, value in raw.items()}


def classify(valence_index: float, arousal_index: float) -> dict[str, float | str]:
    """Emotion label of the nearest circumplex prototype, with confidence, valence, arousal.

    Confidence compares the distances to the nearest and the second-nearest prototype:
    1 on a prototype, 0 half-way between two.
    """
    point = (valence_index, arousal_index)
    ranked = sorted(EMOTIONS.items(), key=lambda item: math.dist(item[1], point))
    first, second = math.dist(ranked[0][1], point), math.dist(ranked[1][1], point)
    confidence = (second - first) / (second + first) if second + first > 0 else 0.0
    return {
        "primary": ranked[0][0],
        "confidence": _clip(confidence),
        "valence": _clip(valence_index),
        "arousal": _clip(arousal_index),
    }


@dataclass(frozen=True)
class Indices:
    brain_regions: dict[str, float]
    brainwaves: dict[str, float]
    emotion: dict[str, float | str]


def silent_emotion() -> dict[str, float | str]:
    """The emotion of silence: "calm", neutral valence, no arousal, zero confidence."""
    return {"primary": "calm", "confidence": 0.0, "valence": 0.5, "arousal": 0.0}


def derive(m: Measures) -> Indices:
    """All indices of one second (or of a whole song's mean measures)."""
    if m.silent:
        return Indices(
            brain_regions(m, a=0.0, v=0.5), brainwaves(m, a=0.0, v=0.5), silent_emotion()
        )
    a, v = arousal(m), valence(m)
    return Indices(brain_regions(m, a=a, v=v), brainwaves(m, a=a, v=v), classify(v, a))

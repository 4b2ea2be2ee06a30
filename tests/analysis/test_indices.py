"""The heuristic indices: ranges, shares, silence, and the direction of each rule."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from audio_service.analysis import indices
from audio_service.analysis.indices import EMOTIONS, Measures

BASE = Measures(
    loudness=0.6,
    brightness=0.5,
    onset=0.5,
    pulse=0.5,
    tempo=120.0,
    tempo_confidence=0.5,
    majorness=0.5,
    clarity=0.5,
    noisiness=0.3,
    novelty=0.2,
    peak=0.1,
)


def grid() -> list[Measures]:
    """Corners of the input space, with and without a tempo."""
    out = []
    for lo_hi in itertools.product((0.0, 1.0), repeat=4):
        loud, pulse, major, noisy = lo_hi
        for tempo in (None, 40.0, 240.0):
            out.append(
                dataclasses.replace(
                    BASE,
                    loudness=loud,
                    onset=loud,
                    pulse=pulse,
                    tempo=tempo,
                    tempo_confidence=pulse,
                    majorness=major,
                    clarity=1 - noisy,
                    noisiness=noisy,
                    novelty=noisy,
                    peak=loud,
                )
            )
    return out


@pytest.mark.parametrize("m", grid())
def test_every_index_in_range_and_shares_sum_to_one(m: Measures) -> None:
    derived = indices.derive(m)
    assert len(derived.brain_regions) == 7
    assert all(0.0 <= v <= 1.0 for v in derived.brain_regions.values())
    assert abs(sum(derived.brainwaves.values()) - 1.0) < 1e-9
    assert all(0.0 <= v <= 1.0 for v in derived.brainwaves.values())
    assert derived.emotion["primary"] in EMOTIONS
    for key in ("confidence", "valence", "arousal"):
        assert 0.0 <= float(derived.emotion[key]) <= 1.0


def test_silence() -> None:
    derived = indices.derive(dataclasses.replace(BASE, silent=True))
    assert set(derived.brain_regions.values()) == {0.0}
    assert derived.brainwaves == dict.fromkeys(derived.brainwaves, 0.2)
    assert derived.emotion["confidence"] == 0.0


def test_rules_point_the_documented_way() -> None:
    def regions(**changes: float) -> dict[str, float]:
        return indices.derive(dataclasses.replace(BASE, **changes)).brain_regions

    # A clear beat drives basal ganglia and motor cortex (Grahn & Brett 2007).
    assert regions(pulse=0.9)["basal_ganglia"] > regions(pulse=0.1)["basal_ganglia"]
    assert regions(pulse=0.9)["motor_cortex"] > regions(pulse=0.1)["motor_cortex"]
    # Dissonance (low key clarity) raises the amygdala index (Koelsch et al. 2006).
    assert regions(clarity=0.1)["amygdala"] > regions(clarity=0.9)["amygdala"]
    # A loudness peak raises the reward index (Salimpoor et al. 2011).
    assert regions(peak=1.0)["nucleus_accumbens"] > regions(peak=0.0)["nucleus_accumbens"]
    # Louder and faster is more arousing; major and consonant is more positive.
    assert indices.arousal(dataclasses.replace(BASE, loudness=0.9, tempo=170.0)) > indices.arousal(
        dataclasses.replace(BASE, loudness=0.2, tempo=70.0)
    )
    assert indices.valence(dataclasses.replace(BASE, majorness=1.0)) > indices.valence(
        dataclasses.replace(BASE, majorness=0.0)
    )
    # Beat entrainment lifts the delta share (Nozaradan et al. 2011).
    waves = indices.derive(dataclasses.replace(BASE, pulse=1.0, tempo_confidence=1.0)).brainwaves
    still = indices.derive(dataclasses.replace(BASE, pulse=0.0, tempo_confidence=0.0)).brainwaves
    assert waves["delta"] > still["delta"]


def test_classify_corners() -> None:
    assert indices.classify(0.85, 0.65)["primary"] == "happy"
    assert indices.classify(0.1, 0.15)["primary"] == "sad"
    assert indices.classify(0.1, 0.95)["primary"] == "angry"
    assert indices.classify(0.8, 0.1)["primary"] == "peaceful"
    assert indices.classify(0.85, 0.65)["confidence"] == pytest.approx(1.0)

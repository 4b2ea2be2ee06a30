"""Key and mode of generated chord progressions."""

from __future__ import annotations

import pytest

from audio_service.analysis import StreamingAnalyzer
from tests.support import signals


@pytest.mark.parametrize(
    ("key", "mode"),
    [("C", "major"), ("A", "minor"), ("F#", "major"), ("D", "minor"), ("E", "minor")],
)
def test_chord_progression_gives_its_key(key: str, mode: str) -> None:
    analyzer = StreamingAnalyzer(signals.SR)
    analyzer.push(signals.chord_progression(key, mode))
    analyzer.finish()
    summary = analyzer.summary()
    assert (summary["key"], summary["mode"]) == (key, mode)
    assert 0.0 < summary["key_confidence"] <= 1.0

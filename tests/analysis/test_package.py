"""Importing the package stays cheap: the API server imports it at start-up."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_pull_in_librosa() -> None:
    code = "import sys, audio_service.analysis; print('librosa' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_public_names() -> None:
    import audio_service.analysis as analysis

    for name in ("StreamingAnalyzer", "open_audio", "analyze_file", "warm_up"):
        assert callable(getattr(analysis, name))

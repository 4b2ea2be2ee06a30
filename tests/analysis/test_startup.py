"""``audio-service analyze`` stays off the heavy imports: librosa, numba, scipy.signal.

They cost seconds in a fresh process (numba compiles, scipy.signal pulls in scipy.stats and
more); the filter banks and K-weighting are numpy. A regression here is what the cold-start
row of bench/bench_analysis.py would show as a slow CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import signals

#: Modules the analysis must not import, and the settings the CLI does not need.
HEAVY = ("librosa", "numba", "scipy.signal", "sklearn", "pydantic", "asyncio")

PROBE = """
import io, json, sys
from audio_service import cli
out = sys.stdout
sys.stdout = io.StringIO()
code = cli.main(["analyze", sys.argv[1]])
sys.stdout = out
print(json.dumps({"code": code, "loaded": [m for m in sys.argv[2:] if m in sys.modules]}))
"""


def test_a_fresh_cli_run_imports_none_of_the_heavy_modules(tmp_path: Path) -> None:
    song = signals.music_wav(tmp_path / "song.wav", 6.0)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(song), *HEAVY],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": []}

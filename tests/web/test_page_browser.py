"""The page in Debian's Chromium (driven by playwright-core): upload a WAV through the page,
blink the connection mid-job, and check the charts, the summary, the audio cursor, the
console and that no request left the machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.server import ROOT, ServiceProcess, run_server
from tests.support.signals import music_wav

JS_DIR = ROOT / "tests" / "js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SECONDS = 40


@pytest.fixture(scope="module")
def tools() -> tuple[str, str]:
    node = shutil.which("node")
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(
            f"Chromium at {CHROMIUM} (apt-get install chromium; scripts/test does it as root)"
        )
    if node is None:
        missing.append("Node.js")
    if not (JS_DIR / "node_modules" / "playwright-core").exists():
        missing.append("playwright-core (npm ci in tests/js; scripts/test does it)")
    if missing:
        pytest.skip("the browser test needs " + ", ".join(missing))
    assert node is not None
    return node, CHROMIUM


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    # Paced, so that the connection blink happens while the job still streams.
    with run_server(tmp_path_factory.mktemp("browser"), stream_pace_seconds=0.05) as srv:
        yield srv


def test_page_streams_a_song_live_in_chromium(
    tools: tuple[str, str], server: ServiceProcess, tmp_path: Path
) -> None:
    node, chromium = tools
    song = music_wav(tmp_path / "song.wav", SECONDS, seed=11)
    screenshot = tmp_path / "page.png"
    result = subprocess.run(
        [node, "page_check.mjs", chromium, server.url + "/", str(song), str(screenshot)],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout)

    assert seen["pageErrors"] == [] and seen["console"] == [], seen["console"]
    # Nothing but the service itself (and the page's own blob: URL for the audio).
    for url in seen["requests"] + seen["websockets"]:
        parts = urlsplit(url.removeprefix("blob:"))
        assert (parts.hostname, parts.port) == ("127.0.0.1", server.port), url
    # The blink happened mid-job, and the page reconnected and resumed.
    assert 5 <= seen["pointsAtBlink"] < SECONDS
    assert len(seen["websockets"]) >= 2 and seen["reconnected"] is True
    # Every chart holds one point per second: none missing, none twice.
    assert len(seen["charts"]) == 6
    for chart in seen["charts"]:
        assert chart["times"] == [float(i) for i in range(SECONDS)], chart["title"]
        assert chart["drawn"] == SECONDS and chart["duration"] == SECONDS, chart["title"]
        assert chart["sections"] >= 1, chart["title"]
    assert "BPM" in seen["summary"] and "key" in seen["summary"]
    assert seen["status"] == "Analysis complete" and seen["progress"] == 100
    # The uploaded file plays in the page, and every chart's cursor sits where it plays.
    assert seen["audioSrc"].startswith(f"blob:{server.url}/")
    cursor = seen["cursor"]
    assert cursor["time"] == 10 and cursor["duration"] == SECONDS and cursor["shown"]
    assert cursor["left"] == ["25%"] * 6
    assert screenshot.stat().st_size > 10_000

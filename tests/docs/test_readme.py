"""The README's quick start and API section work when pasted: every code block is run here.

Shell blocks run line by line in one bash session, in a scratch directory that links the
checkout's ``.venv``, ``examples`` and ``clients``, against ``audio-service serve`` on a free
port (the README's ``127.0.0.1:8000`` is rewritten to it). Python and JavaScript blocks must
be the files in ``examples/`` they name, which the shell blocks run. Install commands are
checked rather than run: tests use no network, and ``scripts/test`` runs those same installs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ROOT, base_env, free_port

README = ROOT / "README.md"
SECTIONS = (("## Quick start", "## Development"), ("## API", "## Streaming protocol"))
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)


def _blocks() -> list[tuple[str, str]]:
    text = README.read_text()
    found = []
    for start, end in SECTIONS:
        section = text[text.index(start) : text.index(end)]
        found += BLOCK.findall(section)
    return found


def _installed(line: str) -> bool:
    """The install lines of the README, satisfied by scripts/test's own installs."""
    if line == "./scripts/serve":
        serve = (ROOT / "scripts" / "serve").read_text().strip().splitlines()[-1]
        assert serve == 'exec .venv/bin/audio-service serve "$@"', serve
        return True  # the fixture starts exactly that
    if line == ".venv/bin/pip install -q -e '.[client]'":
        assert "client = [" in (ROOT / "pyproject.toml").read_text()
        __import__("aiohttp")
        return True
    if line == "(cd clients/js && npm ci --no-audit --no-fund)":
        assert (ROOT / "clients" / "js" / "node_modules" / "socket.io-client").exists()
        return True
    return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("readme-server")
    port = free_port()
    env = base_env(temp_dir=tmp, analysis_cache="true")  # the README runs on the defaults
    log = tmp / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "audio-service"), "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(15)


def test_code_blocks_are_the_example_files() -> None:
    examples = [(lang, body) for lang, body in _blocks() if lang in ("python", "js")]
    assert len(examples) == 2
    for _, body in examples:
        name = re.match(r"^(?:#|//) (examples/\S+):", body)
        assert name, f"a code block that is no file of examples/: {body[:60]}"
        assert (ROOT / name.group(1)).read_text() == body, name.group(1)


def test_the_shell_blocks_run_as_written(server: str, tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("Node.js is needed for the README's JavaScript example")
    for name in (".venv", "examples", "clients"):
        (tmp_path / name).symlink_to(ROOT / name)
    lines = [
        line
        for lang, body in _blocks()
        if lang == "sh"
        for line in body.splitlines()
        if line.strip() and not _installed(line.split("  #")[0].strip())
    ]
    script = "set -euo pipefail\n" + "\n".join(lines).replace("127.0.0.1:8000", server[7:])
    env = base_env(AUDIO_SERVICE_URL=server)
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "wrote song.wav" in out
    assert '"status":"complete"' in out and '"duration":30.0' in out
    assert re.search(r"^\{'bpm': .*\} \w+ \w+ 30 segments$", out, re.M)  # the analysis
    assert (tmp_path / "analysis.json").stat().st_size > 1000
    assert re.search(r"^100% Analysis complete$", out, re.M)  # examples/follow.py
    assert re.search(r"^tempo \{'bpm': ", out, re.M)
    assert re.search(r"^tempo \{ bpm: ", out, re.M)  # examples/follow.mjs
    assert '"service":"Neuro-Acoustic Audio Service"' in out
    assert '"status":"healthy"' in out

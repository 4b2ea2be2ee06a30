"""Run Python in a fresh interpreter: for what must not touch the test process itself
(resource limits, the process-wide URL guard)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

from tests.support.server import ROOT


def run_python(
    *args: str, timeout: float, stdin: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """``python *args`` from the repository root; fails the test unless it exits 0.

    Returns what it wrote to stdout.
    """
    done = subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout

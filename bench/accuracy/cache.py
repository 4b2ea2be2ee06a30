"""Rendered pieces and their truth, cached under ``bench/results/corpus/`` (gitignored).

Each piece is stored as ``<name>-<key>.flac`` and ``.json``, the key a hash of the piece's
parameters and of everything else that shapes its sound (the generator modules' source,
the FluidSynth version, the soundfont, the music21 and pretty_midi versions). Changing one
piece renders only that piece; changing the generator renders all; files of keys no longer
in the corpus are deleted.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from importlib.metadata import version
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import soundfile as sf
from bench.accuracy.corpus import FLUIDSYNTH, SOUNDFONT, SR, Piece, render

RESULTS = Path(__file__).resolve().parents[1] / "results"
CORPUS = RESULTS / "corpus"
GENERATOR = ("music.py", "styles.py", "classical.py", "controls.py", "corpus.py")


@lru_cache(maxsize=1)
def generator_digest() -> str:
    """Hash of the code and tools that turn a piece's parameters into sound."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in GENERATOR:
        digest.update((here / name).read_bytes())
    fluidsynth = subprocess.run([FLUIDSYNTH, "--version"], capture_output=True, text=True)
    digest.update(fluidsynth.stdout.encode())
    digest.update(str(SOUNDFONT.stat().st_size).encode())
    digest.update(f"{version('music21')} {version('pretty_midi')}".encode())
    return digest.hexdigest()


def piece_key(piece: Piece) -> str:
    """Cache key of one piece: its parameters and the generator."""
    return hashlib.sha256(f"{generator_digest()} {piece!r}".encode()).hexdigest()[:12]


def stem(piece: Piece) -> Path:
    """The piece's cached files, without their suffix (``.flac``, ``.json``)."""
    return CORPUS / f"{piece.name}-{piece_key(piece)}"


def corpus_id(pieces: list[Piece]) -> str:
    """One short name for this set of renders (shown in docs/ACCURACY.md)."""
    keys = " ".join(sorted(piece_key(p) for p in pieces))
    return hashlib.sha256(keys.encode()).hexdigest()[:12]


def _render_to(piece: Piece) -> str:
    audio, truth = render(piece)
    path = stem(piece)
    sf.write(path.with_suffix(".flac"), audio, SR, subtype="PCM_16")
    # The truth is written last: its presence marks a complete render.
    path.with_suffix(".json").write_text(json.dumps(truth))
    return piece.name


def build(pieces: list[Piece], *, workers: int, prune: bool) -> None:
    """Render the pieces missing from the cache; with ``prune``, delete every other render."""
    CORPUS.mkdir(parents=True, exist_ok=True)
    if prune:
        current = {stem(p).name for p in pieces}
        for path in CORPUS.iterdir():
            if path.stem not in current:
                path.unlink()
    todo = [p for p in pieces if not stem(p).with_suffix(".json").exists()]
    if todo:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for name in pool.map(_render_to, todo):
                print(f"  rendered {name}", flush=True)


def load_truth(piece: Piece) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(stem(piece).with_suffix(".json").read_text())
    return result

"""Render the corpus (cached), run each analyser on it, score, print and write the tables.

    .venv/bin/python -m bench.accuracy            # the whole corpus, writes docs/ACCURACY.md
    .venv/bin/python -m bench.accuracy --quick    # ten pieces covering every class
    .venv/bin/python -m bench.accuracy --only ours   # only ours; naive from its cache
    .venv/bin/python -m bench.accuracy --pieces dnb,waltz   # only these (no doc written)

The naive script runs only on renders it has not answered before (``--only naive`` reruns
it everywhere).

Needs the ``bench`` extra (``pip install -e '.[dev,bench]'``) and the Debian packages
fluidsynth, fluid-soundfont-gm and espeak-ng. At most ``--workers`` (default 2) processes
analyse at once, each with one BLAS/FFT thread, as the machine is shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench.accuracy import report
from bench.accuracy.cache import RESULTS, build, corpus_id, load_truth, stem
from bench.accuracy.pieces import PIECES, QUICK
from bench.accuracy.score import score_piece

DOC = Path(__file__).resolve().parents[2] / "docs" / "ACCURACY.md"
ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _analyse(task: tuple[str, str, str]) -> tuple[str, str, dict[str, Any], float]:
    from bench.accuracy.implementations import IMPLEMENTATIONS

    impl, name, path = task
    start = time.perf_counter()
    try:
        estimate = IMPLEMENTATIONS[impl](path)
    except Exception as exc:  # one failing piece scores as "nothing reported", run goes on
        print(f"  {impl} failed on {name}: {exc!r}", file=sys.stderr, flush=True)
        estimate = {"error": repr(exc)}
    return impl, name, estimate, time.perf_counter() - start


def _warm_up(impls: list[str]) -> None:
    """Run each analyser once here, so numba compiles and caches before the workers start.

    Two workers compiling librosa's cached numba functions at once can leave a corrupt
    cache behind, which then crashes every later process (seen here as a segfault in
    ``beat_track``).
    """
    import numpy as np
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warm-up.wav"
        clicks = np.zeros(8 * 22_050, dtype=np.float32)
        clicks[::11_025] = 1.0
        sf.write(path, clicks, 22_050)
        for impl in impls:
            _analyse((impl, "warm-up", str(path)))


def _naive_answers() -> tuple[Path, dict[str, Any]]:
    """The naive script's cached answers, by render (it never changes between runs)."""
    source = (Path(__file__).parent / "implementations.py").read_bytes()
    path = RESULTS / f"naive-{hashlib.sha256(source).hexdigest()[:8]}.json"
    for stale in RESULTS.glob("naive-*.json"):
        if stale != path:
            stale.unlink()
    answers: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    current = {stem(p).name for p in PIECES}
    return path, {k: v for k, v in answers.items() if k in current}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="ten pieces, no doc written")
    parser.add_argument("--only", choices=("ours", "naive"), help="run one analyser")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pieces", help="comma-separated substrings: only pieces whose name has one (no doc)"
    )
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/ACCURACY.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    for name in ONE_THREAD:
        os.environ[name] = "1"
    pieces = [p for p in PIECES if not args.quick or p.name in QUICK]
    if args.pieces:
        wanted = args.pieces.split(",")
        pieces = [p for p in pieces if any(w in p.name for w in wanted)]
    partial = args.quick or bool(args.pieces)
    build(pieces, workers=args.workers, prune=not partial)
    rendered = time.perf_counter()
    truths = {p.name: load_truth(p) for p in pieces}

    estimates: dict[str, dict[str, dict[str, Any]]] = {"ours": {}, "naive": {}}
    cache, answers = _naive_answers()
    tasks = []
    for p in pieces:
        path = str(stem(p).with_suffix(".flac"))
        if args.only != "naive":
            tasks.append(("ours", p.name, path))
        if args.only == "naive" or (args.only is None and stem(p).name not in answers):
            tasks.append(("naive", p.name, path))
        elif stem(p).name in answers:
            estimates["naive"][p.name] = answers[stem(p).name]
    impls = sorted({impl for impl, _, _ in tasks})
    seconds: dict[str, float] = dict.fromkeys(impls, 0.0)
    _warm_up(impls)
    # A pool that reports a crashed worker (BrokenProcessPool) instead of waiting forever.
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        for impl, name, estimate, elapsed in pool.map(_analyse, tasks):
            estimates[impl][name] = estimate
            seconds[impl] += elapsed
            print(f"  {impl:5} {elapsed:5.1f} s  {name}", file=sys.stderr, flush=True)
    by_name = {p.name: p for p in pieces}
    answers |= {stem(by_name[n]).name: e for n, e in estimates["naive"].items() if "error" not in e}
    cache.write_text(json.dumps(answers))

    scores = {
        impl: {n: score_piece(truths[n], e) for n, e in rows.items() if n in truths}
        for impl, rows in estimates.items()
        if rows
    }
    finished = time.perf_counter()
    timing = (
        f"Run time {finished - started:.0f} s ({rendered - started:.0f} s rendering or cache"
        + "".join(f", {impl} {s:.0f} s of analysis" for impl, s in seconds.items())
        + f"; {args.workers} workers; the naive script's answers are cached per render)."
    )
    tables = "\n\n".join(
        [
            "### Overall (means over the music pieces; controls: the fraction that abstain)",
            report.overall_table(scores),
            "### Per class of piece (ours / naive)",
            report.class_table(scores, truths),
        ]
    )
    print(tables)
    print()
    print(report.composition(truths))
    print(timing)
    write = not (partial or args.no_doc)
    if write:
        generated = "\n\n".join(
            [
                f"Corpus `{corpus_id(pieces)}`: {report.composition(truths)}",
                f"Command: `.venv/bin/python -m bench.accuracy`. {timing}",
                tables,
                "### Per piece",
                report.piece_table(estimates, scores, truths),
            ]
        )
        report.write_doc(DOC, generated)
        print(f"wrote {DOC}", file=sys.stderr)
    (RESULTS / "accuracy-latest.json").write_text(
        json.dumps({"estimates": estimates, "scores": scores, "truths": truths})
    )

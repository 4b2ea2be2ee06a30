"""``audio-service``: serve, worker, analyze and make-test-song."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from audio_service.commands import analyze, make_song, serve, worker


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audio-service", description="Neuro-Acoustic Audio Service"
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    serve.register(subparsers)
    worker.register(subparsers)
    analyze.register(subparsers)
    make_song.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""``audio-service worker``: an analysis worker of a Redis cluster."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("worker", help="run an analysis worker (needs REDIS_URL)")
    parser.add_argument("--name", default=None, help="consumer name (default: host-pid)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the CLI imports every command to build its parser, and
    # `audio-service analyze` needs neither asyncio nor settings (pydantic), about 0.2 s of
    # its start-up.
    import logging

    import uvloop

    from audio_service.config import get_settings

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.embedded:
        print(
            "audio-service worker: set REDIS_URL (the embedded mode runs jobs in `serve`)",
            file=sys.stderr,
        )
        return 2
    name = args.name or f"worker-{socket.gethostname()}-{os.getpid()}"
    # The event loop `serve` gets from uvicorn: every event the worker publishes is a Redis
    # round trip, whose socket and callback work costs less on uvloop than on asyncio's own.
    uvloop.run(_work(name))
    return 0


async def _work(name: str) -> None:
    import asyncio
    import logging

    from audio_service.backends import create_backend
    from audio_service.config import get_settings
    from audio_service.jobs.runner import JobRunner
    from audio_service.jobs.service import JobService

    settings = get_settings()
    backend = create_backend(settings)
    await backend.connect()
    runner = JobRunner(JobService(backend, settings), settings, consumer=name)
    await runner.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logging.getLogger(__name__).info("worker %s ready", name)
    try:
        await stop.wait()
    finally:
        await runner.stop()
        await backend.close()

"""``audio-service serve``: the API and Socket.IO node."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("serve", help="run the API + Socket.IO server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the CLI imports every command to build its parser, and
    # `audio-service analyze` needs none of this (its start-up is part of its wall time).
    import logging

    import uvicorn

    from audio_service.config import get_settings
    from audio_service.main import create_app
    from audio_service.websocket.lean import LeanWebSocketProtocol
    from audio_service.websocket.server import MAX_CLIENT_MESSAGE_BYTES

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        # Per-message deflate costs more CPU than it saves on small JSON events.
        ws_per_message_deflate=False,
        # Refused by uvicorn before it is buffered whole; engine.io applies the same bound
        # (and is all there is when the app runs under another server).
        ws_max_size=MAX_CLIENT_MESSAGE_BYTES,
        proxy_headers=False,
        # uvicorn's websockets implementation with less state per idle connection.
        ws=LeanWebSocketProtocol,
    )
    return 0

"""A local HTTP server that serves generated media (tests never leave the machine)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class MediaServer:
    def __init__(self) -> None:
        #: path -> (content type, body)
        self.files: dict[str, tuple[str, bytes]] = {}
        #: path -> location to redirect to
        self.redirects: dict[str, str] = {}
        #: path -> seconds to sleep between 1 KiB pieces
        self.trickle: dict[str, float] = {}
        self.requests: list[str] = []
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextlib.contextmanager
def serve_media() -> Iterator[MediaServer]:
    media = MediaServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, *, body: bool) -> None:
            media.requests.append(self.path)
            if self.path in media.redirects:
                self.send_response(302)
                self.send_header("Location", media.redirects[self.path])
                self.end_headers()
                return
            if self.path not in media.files:
                self.send_error(404)
                return
            ctype, data = media.files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not body:
                return
            delay = media.trickle.get(self.path)
            if delay is None:
                self.wfile.write(data)
                return
            for i in range(0, len(data), 1024):
                self.wfile.write(data[i : i + 1024])
                self.wfile.flush()
                time.sleep(delay)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    media.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield media
    finally:
        server.shutdown()
        server.server_close()

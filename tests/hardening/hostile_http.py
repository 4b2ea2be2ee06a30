"""A local HTTP server that misbehaves on purpose, and remembers who asked for what.

Each request is recorded with its ``Host`` header: the SSRF tests reach this one server
under a "public" name and under loopback addresses, and the host tells which route a
request took.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Hostile:
    port: int = 0
    #: path -> (content type, body)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    #: path -> Location of a 302
    redirects: dict[str, str] = field(default_factory=dict)
    #: path -> seconds between 1 KiB pieces
    trickle: dict[str, float] = field(default_factory=dict)
    #: paths answered with an endless chunked body (no Content-Length)
    endless: set[str] = field(default_factory=set)
    #: (Host header, path) of every request
    requests: list[tuple[str, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths(self, host_prefix: str) -> list[str]:
        return [path for host, path in self.requests if host.startswith(host_prefix)]


def _handler(state: Hostile) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return None

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, *, body: bool) -> None:
            state.requests.append((self.headers.get("Host", ""), self.path))
            # The client giving up mid-answer is what most tests want.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._route(body)

        def _route(self, body: bool) -> None:
            if self.path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path in state.endless:
                self._endless(body)
            elif self.path in state.files:
                self._file(body)
            else:
                self.send_error(404)

        def _file(self, body: bool) -> None:
            ctype, data = state.files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not body:
                return
            delay = state.trickle.get(self.path)
            step = len(data) if delay is None else 1024
            for i in range(0, len(data), step):
                if state.stop.is_set():
                    return
                self.wfile.write(data[i : i + step])
                self.wfile.flush()
                if delay:
                    time.sleep(delay)

        def _endless(self, body: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            piece = b"\xff\xfb" + b"\0" * (64 * 1024 - 2)
            while body and not state.stop.is_set():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return None  # clients hanging up mid-request are the point of most tests


@contextlib.contextmanager
def serve_hostile() -> Iterator[Hostile]:
    state = Hostile()
    server = _Server(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()

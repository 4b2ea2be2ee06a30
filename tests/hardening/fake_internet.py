"""Run URL jobs the way a job process does, on a pretend internet.

``python -m tests.hardening.fake_internet PORT`` reads a JSON list of ``[url, download
deadline in seconds]`` on stdin, runs each through
:func:`audio_service.jobs.process.run_job` (resource limits, the SSRF guard, yt-dlp,
decoding, analysis: the production code path, nothing replaced) and prints one JSON line
per URL: the last message's type, code and text, the number of chunks, and the files the
job left in its work directory.

Why a pretend internet: the guard must be tested on a *redirect from an allowed host to a
forbidden one*, and on this machine every reachable server is on a forbidden (loopback)
address. So, beneath the guard, this module plays the resolver and the router:

* names ending in ``.public.test`` resolve to :data:`PUBLIC`, a public address as far as
  the guard can tell, and connections to it are delivered to the local hostile server
  on 127.0.0.1:PORT;
* ``rebind.test`` resolves to 127.0.0.1 (what DNS rebinding hands a job process after the
  API checked the name against a public answer);
* any other connection off the machine is refused, so nothing ever leaves it.

The guard sits on top, installed by ``run_job`` exactly as in production; the server and
its settings know nothing of this.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import tempfile
import threading
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from audio_service.jobs.process import JobSpec, run_job
from audio_service.protocol import ChunkMessage

PUBLIC = "93.184.216.34"


def install(port: int) -> None:
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.endswith(".public.test"):
            return real_getaddrinfo(PUBLIC, *args, **kwargs)
        if name == "rebind.test":
            return real_getaddrinfo("127.0.0.1", *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    def route(address: Any) -> Any:
        if not isinstance(address, tuple):
            return address
        host = str(address[0]).split("%")[0]
        if host == PUBLIC:
            return ("127.0.0.1", port)
        if not ipaddress.ip_address(host).is_loopback:
            raise ConnectionRefusedError(f"the pretend internet has no route to {host}")
        return address

    def connect(self: Any, address: Any) -> None:
        real_connect(self, route(address))

    def connect_ex(self: Any, address: Any) -> int:
        return real_connect_ex(self, route(address))

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


def _collect(conn: Connection, into: list[Any]) -> None:
    try:
        while True:
            into.append(conn.recv())
    except EOFError:
        return


def run(url: str, deadline: float) -> dict[str, Any]:
    parent, child = Pipe(duplex=False)
    messages: list[Any] = []
    reader = threading.Thread(target=_collect, args=(parent, messages))
    reader.start()
    with tempfile.TemporaryDirectory() as work_dir:
        spec = JobSpec(
            job_id="fake-internet",
            path=None,
            url=url,
            work_dir=work_dir,
            max_duration=600,
            max_download_bytes=8 * 1024 * 1024,
            allow_private_urls=False,
            # The limits add up over all URLs run in this one process.
            cpu_seconds=600,
            memory_bytes=2048 * 1024 * 1024,
            download_seconds=deadline,
        )
        run_job(spec, child)
        files = sorted(p.name for p in Path(work_dir).iterdir())
    reader.join(30)
    last = messages[-1]
    return {
        "url": url,
        "type": last.type,
        "code": getattr(last, "code", None),
        "message": getattr(last, "message", None),
        "chunks": sum(isinstance(m, ChunkMessage) for m in messages),
        "files": files,
    }


def main() -> None:
    install(int(sys.argv[1]))
    for url, deadline in json.load(sys.stdin):
        print(json.dumps(run(url, deadline)), flush=True)


if __name__ == "__main__":
    main()

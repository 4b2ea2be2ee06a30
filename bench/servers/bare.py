"""The reference: bare python-socketio, a room per job and ``sio.emit`` to the room.

Same events, payloads and Socket.IO settings as the service (``connected`` on connect,
``subscribed`` plus an acknowledgement on subscribe), and the naive way to give a late
subscriber the history: emit the job's stored events to it one by one, then join the room.
Run by ``bench/bench_fanout.py``:  python -m bench.servers.bare PORT
"""

from __future__ import annotations

import sys
from typing import Any

import socketio
from bench.servers.control import Publisher, serve, with_control

from audio_service.models import new_job_id

_SIO_OPTIONS: dict[str, Any] = {
    "async_mode": "asgi",
    "cors_allowed_origins": ["http://localhost:3000"],
    "always_connect": True,
    "http_compression": False,
    "max_http_buffer_size": 64 * 1024,
}


class BareServer:
    def __init__(self) -> None:
        self.sio = socketio.AsyncServer(**_SIO_OPTIONS)
        self.history: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.sio.on("connect", self.connect)
        self.sio.on("subscribe", self.subscribe)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await self.sio.emit("connected", {"type": "connected", "job_id": ""}, to=sid)

    async def subscribe(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        job_id = data["job_id"]
        history = self.history[job_id]
        last_seq = len(history)
        await self.sio.emit(
            "subscribed",
            {"job_id": job_id, "status": "analyzing", "progress": 0, "last_seq": last_seq},
            to=sid,
        )
        for name, payload in history:
            await self.sio.emit(name, payload, to=sid)
        await self.sio.enter_room(sid, job_id)
        return {"ok": True, "job_id": job_id, "status": "analyzing", "last_seq": last_seq}

    async def new_job(self) -> str:
        job_id = new_job_id()
        self.history[job_id] = []
        return job_id

    async def _emit(self, job_id: str, name: str, body: dict[str, Any]) -> None:
        history = self.history[job_id]
        payload = {"job_id": job_id, "seq": len(history) + 1, **body, "type": name}
        history.append((name, payload))
        await self.sio.emit(name, payload, room=job_id)

    async def publish_chunk(self, job_id: str, index: int, segment: dict[str, Any]) -> None:
        await self._emit(job_id, "chunk", {"timestamp": float(index), "segment": segment})

    async def publish_complete(self, job_id: str, analysis: dict[str, Any]) -> None:
        await self._emit(job_id, "complete", {"analysis": analysis})

    def lag(self) -> int:
        return 0


def main() -> None:
    server = BareServer()
    app = socketio.ASGIApp(server.sio, socketio_path="socket.io")
    serve(with_control(app, Publisher(server)), int(sys.argv[1]))


if __name__ == "__main__":
    main()

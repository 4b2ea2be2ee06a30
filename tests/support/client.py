"""A python-socketio AsyncClient that records every job event it receives."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import socketio

JOB_EVENTS = ("progress", "chunk", "complete", "error")


class Recorder:
    """Connects to a real server and keeps events per job, in arrival order."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.connected: list[dict[str, Any]] = []
        self.subscribed: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.events: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        self._ended: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._greeted = asyncio.Event()
        self.sio.on("connected", self._on_connected)
        self.sio.on("subscribed", self.subscribed.append)
        for name in JOB_EVENTS:
            self.sio.on(name, self._recorder(name))

    def _on_connected(self, data: dict[str, Any]) -> None:
        self.connected.append(data)
        self._greeted.set()

    def _recorder(self, name: str) -> Any:
        async def record(data: dict[str, Any]) -> None:
            # Job events carry a seq; an error without one answers a request of this socket.
            if name == "error" and "seq" not in data:
                self.errors.append(data)
                return
            self.events[data["job_id"]].append((name, data))
            if name in ("complete", "error"):
                self._ended[data["job_id"]].set()

        return record

    async def connect(self, transports: list[str] | None = None) -> Recorder:
        await self.sio.connect(self.url, transports=transports or ["websocket"], wait_timeout=10)
        await asyncio.wait_for(self._greeted.wait(), 10)
        return self

    async def subscribe(self, job_id: Any, last_seq: int | None = None) -> dict[str, Any]:
        payload = job_id if not isinstance(job_id, str) else {"job_id": job_id}
        if last_seq is not None:
            payload["last_seq"] = last_seq
        ack: dict[str, Any] = await self.sio.call("subscribe", payload, timeout=10)
        return ack

    async def wait_end(self, job_id: str, timeout: float = 60) -> list[tuple[str, dict[str, Any]]]:
        await asyncio.wait_for(self._ended[job_id].wait(), timeout)
        return self.events[job_id]

    async def close(self) -> None:
        await self.sio.disconnect()


async def upload(url: str, path: Path, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        with open(path, "rb") as fh:
            return await http.post(
                f"{url}/api/analyze", files={"file": (path.name, fh, "audio/wav")}, headers=headers
            )


async def submit_url(url: str, media_url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{url}/api/analyze", json={"url": media_url})


def seqs(events: list[tuple[str, dict[str, Any]]]) -> list[int]:
    return [data["seq"] for _, data in events]


def chunks(events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [data for name, data in events if name == "chunk"]

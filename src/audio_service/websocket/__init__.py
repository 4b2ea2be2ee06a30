"""The Socket.IO side of the service.

The seed's module surface stays available: ``sio`` and the ``send_*`` helpers act on the
default application (``audio_service.main:asgi_app``); the helpers append to the job's
event log, from which every subscriber is served.
"""

from __future__ import annotations

from typing import Any

from audio_service.protocol import (
    ChunkMessage,
    CompleteMessage,
    ConnectedMessage,
    ErrorMessage,
    MessageType,
    ProgressMessage,
)


def _service() -> Any:
    from audio_service import main

    return main.asgi_app.service


def __getattr__(name: str) -> Any:
    if name == "sio":
        return _service().sio
    raise AttributeError(name)


async def send_progress(job_id: str, status: str, progress: int, message: str) -> None:
    await _service().jobs.publish(job_id, ProgressMessage(status, progress, message))


async def send_chunk(job_id: str, timestamp: float, segment: dict[str, Any]) -> None:
    await _service().jobs.publish(job_id, ChunkMessage(timestamp, segment))


async def send_complete(job_id: str, analysis: dict[str, Any]) -> None:
    await _service().jobs.publish(job_id, CompleteMessage(analysis))


async def send_error(job_id: str, code: str, message: str) -> None:
    await _service().jobs.publish(job_id, ErrorMessage(code, message))


def cleanup_job(job_id: str) -> None:
    """Drop this node's subscriptions to ``job_id`` (finished jobs are dropped by themselves)."""
    hub = _service().hub
    for sid in [sid for sid, subs in hub.sockets.items() if job_id in subs]:
        hub.unsubscribe(sid, job_id)


__all__ = [
    "ChunkMessage",
    "CompleteMessage",
    "ConnectedMessage",
    "ErrorMessage",
    "MessageType",
    "ProgressMessage",
    "cleanup_job",
    "send_chunk",
    "send_complete",
    "send_error",
    "send_progress",
    "sio",
]

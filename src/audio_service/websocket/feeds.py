"""What the hub keeps per socket, per subscription and per followed job."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from audio_service.websocket import engineio_adapter as eio


@dataclass(eq=False)
class SocketState:
    """What the hub keeps per subscribed socket: its engine.io send queue, resolved once."""

    outbox: eio.Outbox
    #: The most packets seen waiting in this socket's queue.
    backlog_high_water: int = 0


@dataclass(eq=False)
class Subscription:
    sid: str
    job_id: str
    socket: SocketState
    #: The last seq delivered to this subscriber.
    cursor: int
    replay: asyncio.Task[None] | None = None


@dataclass(eq=False)
class Feed:
    #: The last seq this node has dispatched for the job.
    position: int
    #: The epoch of the log the position counts in.
    epoch: str
    live: dict[str, Subscription] = field(default_factory=dict)
    replaying: set[Subscription] = field(default_factory=set)


class Positions(Mapping[str, int]):
    """A live view of every feed's position: the tail loop passes it without copying."""

    def __init__(self, feeds: dict[str, Feed]) -> None:
        self._feeds = feeds

    def __getitem__(self, job_id: str) -> int:
        return self._feeds[job_id].position

    def __iter__(self) -> Iterator[str]:
        return iter(self._feeds)

    def __len__(self) -> int:
        return len(self._feeds)


class SlowConsumer(Exception):
    """A socket's send queue passed its bound."""

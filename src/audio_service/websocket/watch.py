"""The hub's watch: every few seconds, cut off stalled sockets and check followed logs.

A log a node follows may vanish (Redis restarted empty), be created again (its epoch
changes) or be rewound (a failover to a replica that lagged): its subscribers then get a
terminal JOB_LOST instead of silence or reused seqs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from audio_service.backends.base import EventLog
from audio_service.metrics import Metrics
from audio_service.websocket.feeds import Feed

logger = logging.getLogger(__name__)


class Hub(Protocol):
    """What the watch needs of :class:`audio_service.websocket.hub.Hub`."""

    feeds: dict[str, Feed]
    events: EventLog
    metrics: Metrics
    stall_seconds: float

    def stalled(self, seconds: float) -> list[str]: ...

    def cut_off(self, sid: str) -> None: ...

    def lose(self, job_id: str, feed: Feed) -> None: ...


async def watch(hub: Hub, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        for sid in hub.stalled(hub.stall_seconds):
            logger.warning("socket %s took no packet for %gs", sid, hub.stall_seconds)
            hub.metrics.slow_consumers.inc()
            hub.cut_off(sid)
        if hub.feeds:
            await check_feeds(hub)


async def check_feeds(hub: Hub) -> None:
    """JOB_LOST for every followed job whose log is gone, was created again (a new epoch)
    or is shorter than what this node delivered."""
    # Positions before the read: the tail loop may dispatch more while it awaits.
    feeds = {job_id: (feed, feed.position) for job_id, feed in hub.feeds.items()}
    try:
        heads = await hub.events.heads(feeds)
    except Exception as exc:
        logger.warning("could not check the followed jobs (%s)", exc)
        return
    for job_id, (feed, position) in feeds.items():
        if hub.feeds.get(job_id) is not feed:
            continue  # dropped, or followed anew, while the check awaited
        head = heads.get(job_id)
        if head is None or head.epoch != feed.epoch or head.last_seq < position:
            hub.lose(job_id, feed)

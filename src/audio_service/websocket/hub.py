"""Per-node fan-out of job events to Socket.IO subscribers, exactly once and in order.

The event log is the source of truth. Each job followed on this node has a *feed*: the
node's position in the job's log and the subscribers that are *live* (caught up). One
loop tails the log for all feeds and hands every new event to the live subscribers of its
job. A new subscriber first replays the log from its own cursor and joins the live set
only when its cursor has reached the feed's position; the check and the join run without
an ``await`` in between, so no event can slip between replay and live delivery. A per-
subscriber cursor filters the (rare) events that replay has already sent.

Every event is encoded into Socket.IO packet text once per node and queued directly on
each recipient's engine.io socket, rather than through ``AsyncServer.emit``, which would
create an asyncio task per recipient.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import engineio
import socketio

from audio_service.backends.base import EventLog
from audio_service.metrics import Metrics
from audio_service.protocol import Event, event_payload_json, socketio_event_text

logger = logging.getLogger(__name__)

NAMESPACE = "/"
_REPLAY_PAGE = 256
_TAIL_TIMEOUT = 5.0


@dataclass(eq=False)
class Subscription:
    sid: str
    eio_sid: str
    job_id: str
    #: The last seq delivered to this subscriber.
    cursor: int
    replay: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Feed:
    #: The last seq this node has dispatched for the job.
    position: int
    live: dict[str, Subscription] = field(default_factory=dict)
    replaying: set[Subscription] = field(default_factory=set)


class SlowConsumer(Exception):
    """A socket's send queue passed its bound."""


class Hub:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        events: EventLog,
        *,
        max_backlog: int,
        metrics: Metrics | None = None,
    ) -> None:
        self.sio = sio
        self.events = events
        self.max_backlog = max_backlog
        self.metrics = metrics or Metrics()
        self.feeds: dict[str, _Feed] = {}
        #: sid -> job_id -> subscription
        self.sockets: dict[str, dict[str, Subscription]] = {}
        self._have_feeds = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.metrics.track(self.metrics.feeds, lambda: len(self.feeds))
        self.metrics.track(
            self.metrics.subscriptions, lambda: sum(len(s) for s in self.sockets.values())
        )
        self._delivered_live = self.metrics.events_delivered.labels("live")
        self._delivered_replay = self.metrics.events_delivered.labels("replay")

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._tail_loop(), name="hub-tail")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for sid in list(self.sockets):
            self.drop_socket(sid)

    # -- subscriptions ---------------------------------------------------------------------

    def subscription_count(self, sid: str) -> int:
        return len(self.sockets.get(sid, ()))

    async def subscribe(self, sid: str, job_id: str, after: int, head: int) -> None:
        """Start delivering ``job_id``'s events after seq ``after`` to ``sid``.

        ``head`` is the job's latest seq as read by the caller; the feed starts there if this
        is the node's first subscriber of the job.
        """
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        if eio_sid is None:  # disconnected while the caller awaited
            return
        self.unsubscribe(sid, job_id)
        feed = self.feeds.get(job_id)
        if feed is None:
            feed = self.feeds[job_id] = _Feed(position=head)
            self._have_feeds.set()
            await self.events.wake()
        sub = Subscription(sid=sid, eio_sid=eio_sid, job_id=job_id, cursor=after)
        self.sockets.setdefault(sid, {})[job_id] = sub
        feed.replaying.add(sub)
        sub.replay = asyncio.create_task(self._replay(sub, feed), name=f"replay-{sid}")

    def unsubscribe(self, sid: str, job_id: str) -> bool:
        subs = self.sockets.get(sid)
        sub = subs.pop(job_id, None) if subs else None
        if sub is None:
            return False
        if not subs:
            del self.sockets[sid]
        if sub.replay is not None and not sub.replay.done():
            sub.replay.cancel()
        feed = self.feeds.get(job_id)
        if feed is not None:
            feed.live.pop(sid, None)
            feed.replaying.discard(sub)
            self._maybe_drop_feed(job_id, feed)
        return True

    def drop_socket(self, sid: str) -> None:
        """Forget everything about a socket (it disconnected)."""
        for job_id in list(self.sockets.get(sid, ())):
            self.unsubscribe(sid, job_id)

    def _maybe_drop_feed(self, job_id: str, feed: _Feed) -> None:
        if not feed.live and not feed.replaying:
            del self.feeds[job_id]
            if not self.feeds:
                self._have_feeds.clear()

    # -- delivery --------------------------------------------------------------------------

    async def _replay(self, sub: Subscription, feed: _Feed) -> None:
        try:
            while True:
                batch = await self.events.read(sub.job_id, after=sub.cursor, limit=_REPLAY_PAGE)
                for event in batch:
                    await self._send(sub, event)
                    if event.terminal:
                        self._finish(sub)
                        return
                # No await between this check and the join: see the module docstring.
                if len(batch) < _REPLAY_PAGE and sub.cursor >= feed.position:
                    feed.replaying.discard(sub)
                    feed.live[sub.sid] = sub
                    sub.replay = None
                    return
        except SlowConsumer:
            self._disconnect_slow(sub.sid)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The log is unreachable (Redis down): the client resumes with last_seq later.
            logger.exception("replay of job %s to %s failed", sub.job_id, sub.sid)
            self._disconnect(sub.sid)

    async def _tail_loop(self) -> None:
        backoff = 0.1
        while True:
            if not self.feeds:
                await self._have_feeds.wait()
                continue
            positions = {job_id: feed.position for job_id, feed in self.feeds.items()}
            try:
                found = await self.events.tail(positions, _TAIL_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("event log tail failed (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            for job_id, events in found.items():
                self._dispatch(job_id, events)

    def _dispatch(self, job_id: str, events: list[Event]) -> None:
        feed = self.feeds.get(job_id)
        if feed is None:
            return
        for event in events:
            if event.seq != feed.position + 1:
                # Already dispatched (a tail raced a subscribe), never a gap: tail reads
                # strictly after the position.
                continue
            feed.position = event.seq
            if not feed.live:
                continue
            pkt = self._packet(job_id, event)
            for sub in list(feed.live.values()):
                if event.seq <= sub.cursor:
                    continue
                try:
                    self._queue(sub, pkt)
                except SlowConsumer:
                    self._disconnect_slow(sub.sid)
                    continue
                sub.cursor = event.seq
                self._delivered_live.inc()
                if event.terminal:
                    self._finish(sub)

    def _finish(self, sub: Subscription) -> None:
        """The terminal event went out: the subscription has nothing more to deliver."""
        sub.replay = None
        self.unsubscribe(sub.sid, sub.job_id)

    @staticmethod
    def _packet(job_id: str, event: Event) -> engineio.packet.Packet:
        text = socketio_event_text(event.name, event_payload_json(job_id, event))
        return engineio.packet.Packet(engineio.packet.MESSAGE, data=text)

    async def _send(self, sub: Subscription, event: Event) -> None:
        self._queue(sub, self._packet(sub.job_id, event))
        sub.cursor = event.seq
        self._delivered_replay.inc()
        # Let the socket's writer run between replayed events.
        await asyncio.sleep(0)

    def _queue(self, sub: Subscription, pkt: engineio.packet.Packet) -> None:
        socket = self.sio.eio.sockets.get(sub.eio_sid)
        if socket is None or socket.closed:
            return
        if socket.queue.qsize() >= self.max_backlog:
            raise SlowConsumer(sub.sid)
        # The queue is unbounded, so put_nowait is what ``await socket.send`` does, minus a
        # coroutine per recipient.
        socket.queue.put_nowait(pkt)

    def _disconnect_slow(self, sid: str) -> None:
        logger.warning("socket %s exceeded %d queued packets: disconnecting", sid, self.max_backlog)
        self.metrics.slow_consumers.inc()
        self._disconnect(sid)

    def _disconnect(self, sid: str) -> None:
        self.drop_socket(sid)
        asyncio.get_running_loop().create_task(self.sio.disconnect(sid))

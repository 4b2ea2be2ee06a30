"""Per-node fan-out of job events to Socket.IO subscribers, exactly once and in order.

The event log is the source of truth. Each job followed on this node has a *feed*: the
node's position in the job's log and the subscribers that are *live* (caught up). One
loop tails the log for all feeds and hands every new event to the live subscribers of its
job. A new subscriber first replays the log from its own cursor and joins the live set
only when its cursor has reached the feed's position; the check and the join run without
an ``await`` in between, so no event can slip between replay and live delivery. A per-
subscriber cursor filters the (rare) events that replay has already sent.

Every event is encoded into Socket.IO packet text once per node and queued directly on
each recipient's engine.io send queue (an :class:`~.engineio_adapter.Outbox`), rather than
through ``AsyncServer.emit``, which would create an asyncio task per recipient.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import socketio

from audio_service.backends.base import EventLog
from audio_service.metrics import Metrics
from audio_service.protocol import Event, event_payload_json, socketio_event_text
from audio_service.websocket import engineio_adapter as eio

logger = logging.getLogger(__name__)

_REPLAY_PAGE = 256
_TAIL_TIMEOUT = 5.0


@dataclass(eq=False)
class _Socket:
    """What the hub keeps per subscribed socket: its engine.io send queue, resolved once."""

    outbox: eio.Outbox
    #: The most packets seen waiting in this socket's queue.
    backlog_high_water: int = 0


@dataclass(eq=False)
class Subscription:
    sid: str
    job_id: str
    socket: _Socket
    #: The last seq delivered to this subscriber.
    cursor: int
    replay: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Feed:
    #: The last seq this node has dispatched for the job.
    position: int
    live: dict[str, Subscription] = field(default_factory=dict)
    replaying: set[Subscription] = field(default_factory=set)


class _Positions(Mapping[str, int]):
    """A live view of every feed's position: the tail loop passes it without copying."""

    def __init__(self, feeds: dict[str, _Feed]) -> None:
        self._feeds = feeds

    def __getitem__(self, job_id: str) -> int:
        return self._feeds[job_id].position

    def __iter__(self) -> Iterator[str]:
        return iter(self._feeds)

    def __len__(self) -> int:
        return len(self._feeds)


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
        # Replay queues this many packets before it lets the socket's writer run: enough to
        # send a page in one go, never near the slow-consumer bound.
        self._replay_burst = max(1, min(_REPLAY_PAGE, max_backlog // 2))
        self.metrics = metrics or Metrics()
        self.feeds: dict[str, _Feed] = {}
        #: sid -> job_id -> subscription
        self.sockets: dict[str, dict[str, Subscription]] = {}
        #: sid -> per-socket state, from the socket's first subscribe until it disconnects
        self._conns: dict[str, _Socket] = {}
        self._positions = _Positions(self.feeds)
        self._have_feeds = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        m = self.metrics
        m.track(m.feeds, lambda: len(self.feeds))
        m.track(m.subscriptions, lambda: sum(len(s) for s in self.sockets.values()))
        m.track(
            m.backlog_max,
            lambda: max((c.backlog_high_water for c in self._conns.values()), default=0),
        )
        self._delivered_live = m.events_delivered.labels("live")
        self._delivered_replay = m.events_delivered.labels("replay")

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
        outbox = eio.outbox(self.sio, sid)
        if outbox is None:
            return  # disconnected (or disconnecting) while the caller awaited
        self.unsubscribe(sid, job_id)
        conn = self._conns.get(sid)
        if conn is None:
            conn = self._conns[sid] = _Socket(outbox)
        feed = self.feeds.get(job_id)
        new_feed = feed is None
        if feed is None:
            feed = self.feeds[job_id] = _Feed(position=head)
            self._have_feeds.set()
        sub = Subscription(sid=sid, job_id=job_id, socket=conn, cursor=after)
        self.sockets.setdefault(sid, {})[job_id] = sub
        feed.replaying.add(sub)
        sub.replay = asyncio.create_task(self._replay(sub, feed), name=f"replay-{sid}")
        if new_feed:
            # Registered before this await, so a disconnect meanwhile finds and drops it.
            await self.events.wake()

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
        conn = self._conns.pop(sid, None)
        if conn is not None:
            self.metrics.backlog_high_water.observe(conn.backlog_high_water)

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
                    if self._queue(sub, self._packet(sub.job_id, event)):
                        self._delivered_replay.inc()
                    sub.cursor = event.seq
                    if event.terminal:
                        self._finish(sub)
                        return
                    if sub.socket.outbox.backlog() >= self._replay_burst:
                        # Let the writer send what is queued; a socket that does not drain
                        # reaches the backlog bound and is dropped as a slow consumer.
                        await asyncio.sleep(0)
                # No await between this check and the join: see the module docstring.
                if len(batch) < _REPLAY_PAGE and sub.cursor >= feed.position:
                    feed.replaying.discard(sub)
                    feed.live[sub.sid] = sub
                    sub.replay = None
                    return
                # Other sockets' replays and the live feed get their turn between pages.
                await asyncio.sleep(0)
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
            try:
                found = await self.events.tail(self._positions, _TAIL_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("event log tail failed (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            seen = time.time()
            for job_id, events in found.items():
                self._dispatch(job_id, events, seen)

    def _dispatch(self, job_id: str, events: list[Event], seen: float) -> None:
        """Queue ``events`` on the job's live subscribers; ``seen`` is when the tail read them."""
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
            sent = 0
            # A copy: finishing or dropping a subscriber changes the live set.
            for sub in list(feed.live.values()):
                if event.seq <= sub.cursor:
                    continue
                try:
                    sent += self._queue(sub, pkt)
                except SlowConsumer:
                    self._disconnect_slow(sub.sid)
                    continue
                sub.cursor = event.seq
                if event.terminal:
                    self._finish(sub)
            if sent:
                self._delivered_live.inc(sent)
                # Back-ends that do not record the append time: from when the tail saw it.
                appended = event.appended_at or seen
                self.metrics.delivery_latency.observe(time.time() - appended)

    def _finish(self, sub: Subscription) -> None:
        """The terminal event went out: the subscription has nothing more to deliver."""
        sub.replay = None
        self.unsubscribe(sub.sid, sub.job_id)

    @staticmethod
    def _packet(job_id: str, event: Event) -> eio.Packet:
        return eio.message_packet(
            socketio_event_text(event.name, event_payload_json(job_id, event))
        )

    def _queue(self, sub: Subscription, pkt: eio.Packet) -> bool:
        """Put ``pkt`` on the subscriber's socket; False if the socket is already closed."""
        conn = sub.socket
        outbox = conn.outbox
        if outbox.closed:
            return False
        depth = outbox.backlog()
        if depth >= self.max_backlog:
            raise SlowConsumer(sub.sid)
        outbox.put(pkt)
        if depth >= conn.backlog_high_water:
            conn.backlog_high_water = depth + 1
        return True

    def _disconnect_slow(self, sid: str) -> None:
        logger.warning("socket %s exceeded %d queued packets: disconnecting", sid, self.max_backlog)
        self.metrics.slow_consumers.inc()
        self._disconnect(sid)

    def _disconnect(self, sid: str) -> None:
        self.drop_socket(sid)
        asyncio.get_running_loop().create_task(self.sio.disconnect(sid))

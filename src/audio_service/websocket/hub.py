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

import socketio

from audio_service.backends.base import EventLog
from audio_service.metrics import Metrics
from audio_service.protocol import Event, event_payload_json, job_lost_text, socketio_event_text
from audio_service.websocket import engineio_adapter as eio
from audio_service.websocket.feeds import Feed, Positions, SlowConsumer, SocketState, Subscription
from audio_service.websocket.watch import watch

logger = logging.getLogger(__name__)

_REPLAY_PAGE = 256
_TAIL_TIMEOUT = 5.0
#: How often a node checks that the logs it follows still exist, in the same epoch and no
#: shorter than what it delivered (a Redis that lost or rewound data).
_CHECK_SECONDS = 5.0


class Hub:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        events: EventLog,
        *,
        max_backlog: int,
        max_backlog_bytes: int = 8 * 1024 * 1024,
        stall_seconds: float = 30.0,
        metrics: Metrics | None = None,
    ) -> None:
        """``max_backlog`` packets or ``max_backlog_bytes`` queued for one socket make it a
        slow consumer; so does a queue its writer has not taken from for ``stall_seconds``
        (a long-polling client that stopped polling, kept alive by pongs alone)."""
        self.sio = sio
        self.events = events
        self.max_backlog = max_backlog
        self.max_backlog_bytes = max_backlog_bytes
        self.stall_seconds = stall_seconds
        # Replay queues this many packets before it lets the socket's writer run: enough to
        # send a page in one go, never near the slow-consumer bound.
        self._replay_burst = max(1, min(_REPLAY_PAGE, max_backlog // 2))
        self.metrics = metrics or Metrics()
        self.feeds: dict[str, Feed] = {}
        #: sid -> job_id -> subscription
        self.sockets: dict[str, dict[str, Subscription]] = {}
        #: sid -> per-socket state, from the socket's first subscribe until it disconnects
        self._conns: dict[str, SocketState] = {}
        self._positions = Positions(self.feeds)
        self._have_feeds = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
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
        self._tasks = [
            asyncio.create_task(self._tail_loop(), name="hub-tail"),
            asyncio.create_task(watch(self, _CHECK_SECONDS), name="hub-watch"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for sid in list(self.sockets):
            self.drop_socket(sid)

    # -- subscriptions ---------------------------------------------------------------------

    def subscription_count(self, sid: str) -> int:
        return len(self.sockets.get(sid, ()))

    async def subscribe(
        self, sid: str, job_id: str, after: int, head: int, epoch: str = ""
    ) -> None:
        """Start delivering ``job_id``'s events after seq ``after`` to ``sid``.

        ``head`` and ``epoch`` are the job's latest seq and its log's epoch as read by the
        caller; the feed starts there if this is the node's first subscriber of the job.
        """
        outbox = eio.outbox(self.sio, sid)
        if outbox is None:
            return  # disconnected (or disconnecting) while the caller awaited
        held = self.sockets.get(sid, {}).get(job_id)
        if held is not None and held.socket.outbox.same_socket(outbox):
            # Already followed on this very connection: everything after the cursor is
            # coming, and what came before was sent here already. A second replay would
            # only queue the log again (the attack of re-subscribing in a loop).
            held.cursor = max(held.cursor, after)
            return
        self.unsubscribe(sid, job_id)
        conn = self._conns.get(sid)
        if conn is None:
            conn = self._conns[sid] = SocketState(outbox)
        feed = self.feeds.get(job_id)
        if feed is not None and feed.epoch != epoch:
            self.lose(job_id, feed)  # the log was created again since this feed began
            feed = None
        new_feed = feed is None
        if feed is None:
            feed = self.feeds[job_id] = Feed(position=head, epoch=epoch)
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

    def _maybe_drop_feed(self, job_id: str, feed: Feed) -> None:
        if not feed.live and not feed.replaying:
            del self.feeds[job_id]
            if not self.feeds:
                self._have_feeds.clear()

    # -- delivery --------------------------------------------------------------------------

    async def _replay(self, sub: Subscription, feed: Feed) -> None:
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
                    outbox = sub.socket.outbox
                    if (
                        outbox.backlog() >= self._replay_burst
                        or outbox.backlog_bytes() >= self.max_backlog_bytes // 2
                    ):
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

    def stalled(self, seconds: float) -> list[str]:
        """Subscribed sockets whose writer took nothing for ``seconds`` while packets wait."""
        return [sid for sid, conn in self._conns.items() if conn.outbox.stalled_for() > seconds]

    def lose(self, job_id: str, feed: Feed) -> None:
        """End every subscriber of ``feed`` with a terminal JOB_LOST, and drop the feed."""
        logger.warning("job %s: its log was lost or rewound; telling its subscribers", job_id)
        self.metrics.jobs_lost.inc()
        for sub in [*feed.live.values(), *feed.replaying]:
            packet = eio.message_packet(job_lost_text(job_id, sub.cursor + 1))
            try:
                self._queue(sub, packet)
            except SlowConsumer:
                self._disconnect_slow(sub.sid)
            self.unsubscribe(sub.sid, job_id)
        if self.feeds.get(job_id) is feed:
            del self.feeds[job_id]
            if not self.feeds:
                self._have_feeds.clear()

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
        # One event larger than the bound still goes to a socket with nothing queued.
        queued = outbox.backlog_bytes()
        if queued and queued + eio.packet_size(pkt) > self.max_backlog_bytes:
            raise SlowConsumer(sub.sid)
        outbox.put(pkt)
        if depth >= conn.backlog_high_water:
            conn.backlog_high_water = depth + 1
        return True

    def _disconnect_slow(self, sid: str) -> None:
        logger.warning(
            "socket %s exceeded %d queued packets or %d bytes: disconnecting",
            sid,
            self.max_backlog,
            self.max_backlog_bytes,
        )
        self.metrics.slow_consumers.inc()
        self.cut_off(sid)

    def cut_off(self, sid: str) -> None:
        """Disconnect a slow consumer, dropping what is queued for it first."""
        conn = self._conns.get(sid)
        if conn is not None:
            conn.outbox.discard()
        self.drop_socket(sid)
        asyncio.get_running_loop().create_task(eio.close_session(self.sio, sid))

    def _disconnect(self, sid: str) -> None:
        self.drop_socket(sid)
        asyncio.get_running_loop().create_task(self.sio.disconnect(sid))

"""Prometheus metrics of one process, in a registry of its own (tests run several apps).

Counters count what *this process* did: in cluster mode the analysis workers append most
events and end the jobs, and an API node counts the events it delivered. Gauges read live
state when scraped, so keeping them current costs nothing on the delivery path.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Packets waiting in one socket's queue; the slow-consumer bound defaults to 2000.
_BACKLOG_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sockets = Gauge(
            "audio_service_connected_sockets", "Connected Socket.IO clients", registry=r
        )
        self.subscriptions = Gauge(
            "audio_service_subscriptions", "Active job subscriptions on this node", registry=r
        )
        self.feeds = Gauge("audio_service_followed_jobs", "Jobs followed by this node", registry=r)
        self.jobs = Counter(
            "audio_service_jobs",
            "Jobs by status reached: created, cached (replayed, no analysis), started (analysis "
            "began), complete, error, cancelled",
            ["status"],
            registry=r,
        )
        self.jobs_running = Gauge(
            "audio_service_jobs_running", "Jobs this process is analysing now", registry=r
        )
        self.events_appended = Counter(
            "audio_service_events_appended",
            "Job events appended by this process",
            ["event"],
            registry=r,
        )
        self.events_delivered = Counter(
            "audio_service_events_delivered",
            "Job events queued to sockets: live (fan-out) or replay (late or resuming subscriber)",
            ["mode"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "audio_service_delivery_latency_seconds",
            "From append until queued on every live subscriber of this node, per event",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.backlog_high_water = Histogram(
            "audio_service_socket_backlog_high_water",
            "Most packets ever waiting in a socket's send queue, per socket at disconnect",
            buckets=_BACKLOG_BUCKETS,
            registry=r,
        )
        self.backlog_max = Gauge(
            "audio_service_socket_backlog_high_water_max",
            "The largest backlog high-water mark among connected subscribed sockets",
            registry=r,
        )
        self.slow_consumers = Counter(
            "audio_service_slow_consumer_disconnects",
            "Sockets dropped for a full backlog",
            registry=r,
        )
        self.jobs_lost = Counter(
            "audio_service_jobs_lost",
            "Followed jobs whose log was found lost or rewound (subscribers got JOB_LOST)",
            registry=r,
        )
        self.rate_limited = Counter(
            "audio_service_rate_limited",
            "Requests refused by a rate limit: http (job creation) or socket (events)",
            ["where"],
            registry=r,
        )
        self.realtime_factor = Histogram(
            "audio_service_analysis_realtime_factor",
            "Seconds of audio analysed per second of wall time, per completed job",
            buckets=(1, 5, 10, 25, 50, 100, 200, 400, 800, 1600),
            registry=r,
        )

    def track(self, gauge: Gauge, fn: Callable[[], float]) -> None:
        gauge.set_function(fn)

"""Prometheus metrics of one process, in a registry of its own (tests run several apps)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.events_appended = Counter(
            "audio_service_events_appended",
            "Job events appended by this process",
            ["event"],
            registry=r,
        )
        self.events_delivered = Counter(
            "audio_service_events_delivered", "Job events queued to sockets", ["mode"], registry=r
        )
        self.delivery_latency = Histogram(
            "audio_service_delivery_latency_seconds",
            "From append to queued on the socket (live delivery)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.slow_consumers = Counter(
            "audio_service_slow_consumer_disconnects",
            "Sockets dropped for a full backlog",
            registry=r,
        )
        self.rate_limited = Counter(
            "audio_service_rate_limited", "Refused for rate limits", ["where"], registry=r
        )
        self.jobs = Counter("audio_service_jobs", "Jobs created and ended", ["status"], registry=r)
        self.realtime_factor = Histogram(
            "audio_service_analysis_realtime_factor",
            "Seconds of audio analysed per second of wall time, per job",
            buckets=(1, 5, 10, 25, 50, 100, 200, 400, 800, 1600),
            registry=r,
        )

    def track(self, gauge: Gauge, fn: Callable[[], float]) -> None:
        gauge.set_function(fn)

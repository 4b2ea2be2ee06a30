"""Service settings: one pydantic-settings class read from the environment and `.env`."""

from __future__ import annotations

import ipaddress
import json
import tempfile
from functools import lru_cache
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Back-end URL schemes: the embedded in-memory back-end, and Redis over TCP, TLS or a socket.
MEMORY_SCHEME = "memory"
REDIS_SCHEMES = ("redis", "rediss", "unix")


def _split_list(value: Any) -> Any:
    """Accept a JSON list or a comma-separated string, as operators write both."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    allowed_origins: Annotated[list[str], NoDecode] = ["http://localhost:3000"]
    #: Also allow the origin of the page the service serves itself (loopback or IP hosts;
    #: see ``origins.py``).
    allow_own_origin: bool = True
    #: The back-end, chosen by URL scheme: ``memory://`` (the embedded default; empty means
    #: the same) or ``redis://``, ``rediss://``, ``unix://`` (cluster mode).
    redis_url: str = ""
    #: Prefix of every Redis key this service writes.
    redis_prefix: str = "nas"
    max_upload_mb: float = Field(100, gt=0)
    max_audio_duration: float = Field(600, gt=0)
    job_retention_seconds: float = Field(3600, gt=0)
    #: Most finished jobs kept (memory or Redis): past it the oldest are dropped at once,
    #: before their retention ends. Bounds what finished logs take (about 1 MB each for
    #: ten minutes of audio).
    max_retained_jobs: int = Field(1000, ge=1)
    #: Cluster mode: how long an upload may wait in Redis for its job to start, seconds.
    upload_ttl_seconds: float = Field(3600, gt=0)
    #: Cluster mode: bytes all uploads waiting in Redis may take together, MiB (503 past).
    max_stored_uploads_mb: float = Field(1024, gt=0)
    rate_limit_per_minute: int = Field(10, ge=0)
    #: Addresses or networks whose X-Forwarded-For header is believed (comma-separated or
    #: JSON list).
    trusted_proxies: Annotated[list[str], NoDecode] = []
    allow_private_urls: bool = False
    temp_dir: str = Field(default_factory=tempfile.gettempdir)
    stream_pace_seconds: float = Field(0, ge=0)
    #: Concurrent analyses per process that runs jobs (API node in embedded mode, or worker).
    worker_concurrency: int = Field(2, ge=1)
    #: Jobs one client (address, or /64) may have queued or running at once (429 past it).
    #: At most the worker slots: then one client can delay another's job by one job at most.
    max_active_jobs_per_client: int = Field(2, ge=1)
    #: Jobs queued or running in all (503 with Retry-After past it): the queue is bounded.
    max_queued_jobs: int = Field(200, ge=1)
    #: CPU seconds a job process may use per second of audio (once its length is known),
    #: plus a fixed allowance; never more than JOB_CPU_SECONDS.
    job_cpu_seconds_per_audio_second: float = Field(1.0, gt=0)
    #: Let API nodes run jobs too when a Redis back-end is configured.
    api_runs_jobs: bool = False
    #: Wall-clock deadline of one job (download + decode + analysis), seconds.
    job_timeout_seconds: float = Field(300, gt=0)
    #: Cluster mode: a job whose worker sent no keepalive for this long (seconds) is handed
    #: to another worker.
    job_reclaim_seconds: float = Field(15, ge=1)
    #: Cluster mode: runs of one job (the first plus retries after lost workers) before it
    #: ends with a WORKER_LOST error.
    job_max_attempts: int = Field(3, ge=1)
    #: CPU seconds and address space (MiB) granted to the process analysing one job.
    job_cpu_seconds: int = Field(240, ge=1)
    job_memory_mb: int = Field(2048, ge=256)
    #: Largest download accepted from a URL, MiB.
    max_download_mb: float = Field(200, gt=0)
    #: Wall-clock deadline of a URL job's download, seconds (a trickling server is cut off).
    download_timeout_seconds: float = Field(120, gt=0)
    #: Engine.io packets queued for one socket before it counts as a slow consumer.
    max_socket_backlog: int = Field(2000, ge=10)
    #: Bytes of event data queued for one socket before it counts as a slow consumer (one
    #: event larger than this still goes to a socket with nothing queued); replays count.
    max_socket_backlog_bytes: int = Field(8 * 1024 * 1024, ge=64 * 1024)
    #: A socket whose queued packets nobody took for this long (a long-polling client that
    #: stopped polling, a websocket that stopped reading) is disconnected, seconds.
    socket_stall_seconds: float = Field(30, gt=0)
    max_subscriptions_per_socket: int = Field(20, ge=1)
    #: Socket.IO connections (websocket and long-polling sessions alike) per process; past
    #: it the handshake is refused (503). Keep it under the process's descriptor limit.
    max_connections: int = Field(10000, ge=1)
    socket_events_per_second: float = Field(20, gt=0)
    enable_docs: bool = True
    #: ``/metrics`` for ``Authorization: Bearer <token>`` when set; else loopback peers only,
    #: unless METRICS_PUBLIC.
    metrics_token: str = ""
    metrics_public: bool = False
    #: Replay the stored analysis of the same bytes (sha256) or the same media URL
    #: (normalised) instead of analysing again, while the first job is retained.
    analysis_cache: bool = True
    log_level: str = "INFO"

    @field_validator("allowed_origins", "trusted_proxies", mode="before")
    @classmethod
    def _parse_list(cls, value: Any) -> Any:
        return _split_list(value)

    @model_validator(mode="after")
    def _refuse_wildcard_origin(self) -> Settings:
        # Credentials are allowed for REST and Socket.IO; a wildcard would hand any web page
        # the user's cookies, and python-engineio would echo any origin back.
        if "*" in self.allowed_origins:
            raise ValueError(
                "ALLOWED_ORIGINS must list explicit origins: '*' together with credentials "
                "lets every web site use this service in its visitors' name"
            )
        if not self.allowed_origins:
            raise ValueError("ALLOWED_ORIGINS is empty: list at least one origin")
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        # A typo would otherwise surface as a 500 on the first job, or silently trust no one.
        for entry in value:
            ipaddress.ip_network(entry, strict=False)
        return value

    @field_validator("temp_dir")
    @classmethod
    def _default_temp_dir(cls, value: str) -> str:
        return value or tempfile.gettempdir()

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        schemes = (MEMORY_SCHEME, *REDIS_SCHEMES)
        if value and not value.startswith(tuple(f"{scheme}://" for scheme in schemes)):
            raise ValueError(
                "REDIS_URL must be empty or start with memory://, redis://, rediss:// or unix://"
            )
        return value

    @property
    def backend_url(self) -> str:
        return self.redis_url or f"{MEMORY_SCHEME}://"

    @property
    def embedded(self) -> bool:
        """The in-memory back-end: this one process is the whole service (it runs the jobs)."""
        return self.backend_url.startswith(f"{MEMORY_SCHEME}://")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_download_bytes(self) -> int:
        return int(self.max_download_mb * 1024 * 1024)


@lru_cache
def get_settings() -> Settings:
    return Settings()

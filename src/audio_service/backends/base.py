"""The back-end interface: job store, event log, job queue and upload store.

Two implementations sit behind it, chosen by URL scheme: ``memory://`` (the embedded
default, one process) and ``redis://`` (cluster mode). The shared test suite in
``tests/backends`` runs against both.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio_service.backends.cache import CacheIndex
from audio_service.models import JobRecord
from audio_service.protocol import Event


class JobStore(ABC):
    @abstractmethod
    async def create(self, job: JobRecord) -> None: ...

    @abstractmethod
    async def get(self, job_id: str) -> JobRecord | None: ...

    @abstractmethod
    async def update(self, job_id: str, **changes: Any) -> None:
        """Set fields of an existing job (enums may be passed as members).

        A no-op for an unknown job, and for a finished one unless the change keeps it
        finished: a worker's late progress must not reopen a cancelled job.
        """

    @abstractmethod
    async def admit(self, client: str, limit: int) -> bool:
        """Count one more active job for ``client``, unless it already has ``limit``."""

    @abstractmethod
    async def release(self, client: str) -> None:
        """One of ``client``'s jobs ended (called once per admitted job)."""


@dataclass(frozen=True, slots=True)
class LogHead:
    #: Set (at random) when the log is created; a log created again gets a new one.
    epoch: str
    last_seq: int


class EventLog(ABC):
    """Per-job, append-only, numbered event log: the source of truth for delivery."""

    @abstractmethod
    async def append(
        self, job_id: str, name: str, data: str, *, final: bool = False, fence: int = 0
    ) -> int | None:
        """Append one event and return its seq (1, 2, 3, ...).

        ``final`` closes the log. Returns ``None``, appending nothing, once the log is closed:
        that is how a cancelled job's runner learns to stop, race-free. ``fence`` is the
        writer's :attr:`Claim.fence` (0: a writer without a claim, such as the API); a
        writer whose claim was superseded by a newer one is refused the same way.

        The append that creates a log gives it a new epoch, kept in the job's record.
        """

    async def append_many(self, job_id: str, events: list[tuple[str, str]]) -> int | None:
        """Append ``(name, data)`` events in order, none of them final; the last seq.

        ``None`` once the log is closed (the rest are not appended). Back-ends may send
        them in one round trip: the analysis cache replays a whole log this way.
        """
        seq: int | None = None
        for name, data in events:
            seq = await self.append(job_id, name, data)
            if seq is None:
                return None
        return seq

    @abstractmethod
    async def read(self, job_id: str, after: int = 0, limit: int | None = None) -> list[Event]:
        """Events with ``seq > after`` in seq order, at most ``limit`` of them."""

    @abstractmethod
    async def last_seq(self, job_id: str) -> int:
        """The latest seq of the job (0 if it has no events)."""

    @abstractmethod
    async def heads(self, job_ids: Collection[str]) -> dict[str, LogHead]:
        """The epoch and latest seq of each job's log; jobs that are gone are left out.

        A node compares them with what it has delivered: a job gone, a new epoch, or a
        latest seq below its position means the log was lost or rewound.
        """

    @abstractmethod
    async def tail(self, positions: Mapping[str, int], timeout: float) -> dict[str, list[Event]]:
        """Wait up to ``timeout`` seconds for events after ``positions[job_id]``.

        Returns the new events of every job that has some (possibly none on timeout or
        after :meth:`wake`). A node runs one such loop for all the jobs its sockets follow.
        """

    @abstractmethod
    async def wake(self) -> None:
        """Make a pending :meth:`tail` return early (the set of positions changed)."""


@dataclass(frozen=True, slots=True)
class Claim:
    job_id: str
    #: 1 on the first run, 2+ when a job is retried after its worker was lost.
    attempt: int
    #: Back-end specific handle (a stream entry id for Redis).
    handle: str = ""
    #: This claim's number among the job's claims (its record's ``attempts`` once claimed):
    #: the fencing token its appends carry. 0 when the job no longer exists.
    fence: int = 0


class JobQueue(ABC):
    @abstractmethod
    async def enqueue(self, job_id: str) -> None: ...

    @abstractmethod
    async def depth(self) -> int:
        """Jobs queued or being run (the bound MAX_QUEUED_JOBS applies to this)."""

    @abstractmethod
    async def claim(self, consumer: str, timeout: float) -> Claim | None:
        """Take the next job (or one whose worker died), waiting up to ``timeout`` seconds."""

    @abstractmethod
    async def keepalive(self, claim: Claim) -> bool:
        """Tell the queue the claim's worker is alive and still on it.

        False when the job is no longer the claim's (another worker reclaimed it): the
        caller must stop working on it at once.
        """

    @abstractmethod
    async def done(self, claim: Claim) -> None: ...


class UploadStore(ABC):
    """Where an uploaded file waits until the process that analyses it picks it up."""

    @abstractmethod
    async def stash(self, job_id: str, path: Path) -> str:
        """Take ownership of the file at ``path``; return a reference for :meth:`fetch`."""

    @abstractmethod
    async def fetch(self, ref: str, dest_dir: Path) -> Path:
        """A local path of the stashed file (the caller deletes it with :meth:`discard`)."""

    @abstractmethod
    async def discard(self, ref: str, local: Path | None = None) -> None:
        """Delete the stashed file and its local copy; safe to call twice."""


def remove_path(path: Path) -> None:
    """Delete a local file or folder an upload store handed out; absent is fine."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


class Backend(ABC):
    jobs: JobStore
    events: EventLog
    queue: JobQueue
    uploads: UploadStore
    cache: CacheIndex

    async def connect(self) -> None:  # noqa: B027 - optional hook
        """Open connections; called once before use."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and background tasks."""

    @abstractmethod
    async def ping(self) -> bool:
        """True when the back-end answers."""

    async def hit_rate_limit(self, client: str, per_minute: int) -> float | None:
        """Count one job creation of ``client`` in a window shared by every node: 0 if
        allowed, else the seconds until it would be. ``None``: this back-end has no shared
        window (one process), and the API counts in its own memory."""
        return None

    @abstractmethod
    async def retire(self, job_id: str, retention_seconds: float) -> None:
        """The job finished: keep its record and events for the retention time, then drop them."""

    async def sweep(self) -> None:  # noqa: B027 - optional hook
        """Drop what has outlived its retention (back-ends without native expiry)."""

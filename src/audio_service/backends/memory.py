"""The embedded back-end: everything in this process's memory.

Finished jobs are kept for the retention time and at most ``max_retained`` of them, so
memory stays bounded however long the service runs.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from audio_service.backends.base import (
    Backend,
    Claim,
    EventLog,
    JobQueue,
    JobStore,
    LogHead,
    UploadStore,
    remove_path,
)
from audio_service.backends.cache import MemoryCacheIndex
from audio_service.models import JobRecord, JobStatus, new_epoch
from audio_service.protocol import Event


@dataclass
class _Log:
    epoch: str = field(default_factory=new_epoch)
    events: list[Event] = field(default_factory=list)
    closed: bool = False


class MemoryJobStore(JobStore):
    def __init__(self) -> None:
        self.records: dict[str, JobRecord] = {}
        self._active: dict[str, int] = {}

    async def admit(self, client: str, limit: int) -> bool:
        if self._active.get(client, 0) >= limit:
            return False
        self._active[client] = self._active.get(client, 0) + 1
        return True

    async def release(self, client: str) -> None:
        left = self._active.get(client, 0) - 1
        if left > 0:
            self._active[client] = left
        else:
            self._active.pop(client, None)

    async def create(self, job: JobRecord) -> None:
        self.records[job.job_id] = replace(job)

    async def get(self, job_id: str) -> JobRecord | None:
        record = self.records.get(job_id)
        # A copy, so callers cannot change the stored record behind the store's back.
        return replace(record) if record is not None else None

    async def update(self, job_id: str, **changes: Any) -> None:
        record = self.records.get(job_id)
        if record is None:
            return
        new_status = changes.get("status")
        # A finished job stays finished: a worker's late progress must not undo a cancel.
        if record.status.finished and (new_status is None or not JobStatus(new_status).finished):
            return
        for name, value in changes.items():
            setattr(record, name, value)
        record.updated_at = time.time()


class MemoryEventLog(EventLog):
    def __init__(self, records: dict[str, JobRecord]) -> None:
        #: The job store's records: a fenced append checks the job's latest claim there.
        self._records = records
        self.logs: dict[str, _Log] = {}
        self._dirty: set[str] = set()
        self._changed = asyncio.Event()

    async def append(
        self, job_id: str, name: str, data: str, *, final: bool = False, fence: int = 0
    ) -> int | None:
        if fence:
            record = self._records.get(job_id)
            if record is None or record.attempts != fence:
                return None  # the claim was superseded: see EventLog.append
        log = self.logs.get(job_id)
        if log is None:
            log = self.logs[job_id] = _Log()
            record = self._records.get(job_id)
            if record is not None:
                record.epoch = log.epoch
        if log.closed:
            return None
        seq = len(log.events) + 1
        log.events.append(Event(seq, name, data, time.time()))
        log.closed = final
        self._dirty.add(job_id)
        self._changed.set()
        return seq

    async def read(self, job_id: str, after: int = 0, limit: int | None = None) -> list[Event]:
        log = self.logs.get(job_id)
        if log is None:
            return []
        # seq n sits at index n - 1: slicing is the whole lookup.
        end = None if limit is None else after + limit
        return log.events[after:end]

    async def last_seq(self, job_id: str) -> int:
        log = self.logs.get(job_id)
        return len(log.events) if log is not None else 0

    async def heads(self, job_ids: Collection[str]) -> dict[str, LogHead]:
        found = {}
        for job_id in job_ids:
            log = self.logs.get(job_id)
            if log is not None and job_id in self._records:
                found[job_id] = LogHead(log.epoch, len(log.events))
        return found

    async def tail(self, positions: Mapping[str, int], timeout: float) -> dict[str, list[Event]]:
        if not self._dirty:
            self._changed.clear()
            try:
                # Not wait_for: on Python 3.11 that wraps the wait in a new task per call,
                # and the hub calls this once per wake-up, up to once per append.
                async with asyncio.timeout(timeout):
                    await self._changed.wait()
            except TimeoutError:
                return {}
        dirty, self._dirty = self._dirty, set()
        found: dict[str, list[Event]] = {}
        for job_id in dirty:
            after = positions.get(job_id)
            if after is None:
                continue
            events = await self.read(job_id, after)
            if events:
                found[job_id] = events
        return found

    async def wake(self) -> None:
        self._changed.set()

    def drop(self, job_id: str) -> None:
        self.logs.pop(job_id, None)
        self._dirty.discard(job_id)


class MemoryJobQueue(JobQueue):
    def __init__(self, records: dict[str, JobRecord]) -> None:
        self._records = records
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._claimed = 0

    async def depth(self) -> int:
        return self._queue.qsize() + self._claimed

    async def enqueue(self, job_id: str) -> None:
        self._queue.put_nowait(job_id)

    async def claim(self, consumer: str, timeout: float) -> Claim | None:
        try:
            job_id = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        self._claimed += 1
        # In one process a worker cannot die without the queue dying too: no retries. A job
        # queued twice is claimed twice, though, and the later claim fences out the first.
        record = self._records.get(job_id)
        if record is None:
            return Claim(job_id=job_id, attempt=1)
        record.attempts += 1
        return Claim(job_id=job_id, attempt=1, fence=record.attempts)

    async def keepalive(self, claim: Claim) -> bool:
        record = self._records.get(claim.job_id)
        return record is not None and record.attempts == claim.fence

    async def done(self, claim: Claim) -> None:
        self._claimed -= 1


class LocalUploadStore(UploadStore):
    """Uploads stay where the API wrote them: the analysing process is on this machine."""

    async def stash(self, job_id: str, path: Path) -> str:
        return str(path)

    async def fetch(self, ref: str, dest_dir: Path) -> Path:
        return Path(ref)

    async def discard(self, ref: str, local: Path | None = None) -> None:
        for path in {Path(ref), local} - {None}:
            assert path is not None
            await asyncio.to_thread(remove_path, path)


class MemoryBackend(Backend):
    def __init__(self, *, max_retained: int = 1000) -> None:
        self.jobs = self._jobs = MemoryJobStore()
        self.events = self._events = MemoryEventLog(self._jobs.records)
        self.queue = MemoryJobQueue(self._jobs.records)
        self.uploads = LocalUploadStore()
        self.cache = MemoryCacheIndex(max_retained)
        self.max_retained = max_retained
        #: Finished jobs by expiry time, oldest first.
        self._retired: OrderedDict[str, float] = OrderedDict()

    async def ping(self) -> bool:
        return True

    async def retire(self, job_id: str, retention_seconds: float) -> None:
        self._retired.pop(job_id, None)
        self._retired[job_id] = time.monotonic() + retention_seconds
        while len(self._retired) > self.max_retained:
            oldest, _ = self._retired.popitem(last=False)
            self._drop(oldest)
        await self.sweep()

    async def sweep(self) -> None:
        now = time.monotonic()
        # Retention times are all equal in practice, so expiry order is insertion order.
        while self._retired:
            job_id, expires = next(iter(self._retired.items()))
            if expires > now:
                break
            del self._retired[job_id]
            self._drop(job_id)

    def _drop(self, job_id: str) -> None:
        self._jobs.records.pop(job_id, None)
        self._events.drop(job_id)

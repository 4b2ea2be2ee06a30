"""The job record: what the job store keeps about each job (below back-ends and jobs)."""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from audio_service.protocol import JOB_ID_BYTES, JobStatus


class SourceKind(StrEnum):
    UPLOAD = "upload"
    URL = "url"


def new_job_id() -> str:
    """128 random bits: knowing the id is what grants access to the job."""
    return secrets.token_urlsafe(JOB_ID_BYTES)


def new_epoch() -> str:
    """The identity of one incarnation of a job's event log (see ``EventLog.heads``)."""
    return secrets.token_hex(8)


@dataclass
class JobRecord:
    job_id: str
    source_kind: SourceKind
    #: The URL of a URL job, or the upload reference of the back-end (never a client filename).
    source: str
    video_id: str | None = None
    filename: str | None = None
    status: JobStatus = JobStatus.PENDING
    progress: int = 0
    message: str = "Queued"
    #: Seconds of audio, once the analysis has opened the file.
    duration: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    #: Claims of the job by workers so far. The latest claim's number is its fence: the
    #: back-end refuses appends that carry an older one (see ``EventLog.append``).
    attempts: int = 0
    #: The epoch of the job's event log, set by the append that created the log.
    epoch: str = ""
    #: Who submitted it (the rate limiter's client key): counts against their active jobs.
    client: str = ""
    #: What makes another job the same song (``jobs/cache_keys.py``); None: not cached.
    cache_key: str | None = None
    #: The job replayed a stored analysis instead of running one.
    cached: bool = False
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["source_kind"] = self.source_kind.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = JobStatus(values.get("status", JobStatus.PENDING.value))
        values["source_kind"] = SourceKind(values["source_kind"])
        return cls(**values)


# JobStatus is a wire value (protocol.py); it is re-exported here because it is half of the record.
__all__ = ["JobRecord", "JobStatus", "SourceKind", "new_epoch", "new_job_id"]

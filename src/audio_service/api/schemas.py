"""Request and response bodies of the REST API (they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from audio_service.models import JobRecord, JobStatus


class AnalyzeRequest(BaseModel):
    """The seed's ``{youtube_url, video_id?}`` or the general ``{url}``."""

    model_config = ConfigDict(extra="forbid")

    youtube_url: str | None = Field(None, max_length=2048)
    url: str | None = Field(None, max_length=2048)
    video_id: str | None = Field(None, max_length=128)

    @model_validator(mode="after")
    def _one_url(self) -> AnalyzeRequest:
        if not (self.youtube_url or self.url):
            raise ValueError("give 'url' or 'youtube_url' (or upload a 'file')")
        if self.youtube_url and self.url and self.youtube_url != self.url:
            raise ValueError("give either 'url' or 'youtube_url', not both")
        return self

    @property
    def media_url(self) -> str:
        return self.url or self.youtube_url or ""


class AnalyzeResponse(BaseModel):
    job_id: str
    video_id: str | None
    status: JobStatus
    #: Where socket.io-client connects (default path ``/socket.io``).
    websocket_url: str


class JobError(BaseModel):
    code: str
    message: str


class JobResponse(BaseModel):
    job_id: str
    status: JobStatus
    progress: int
    message: str
    #: Seconds of audio, once the analysis has opened the file (else null).
    duration: float | None
    #: The epoch of the job's event log (as in ``subscribed``): seqs count within it.
    epoch: str
    #: The job replayed the stored analysis of the same song (ANALYSIS_CACHE).
    cached: bool
    video_id: str | None
    source_kind: str
    created_at: float
    updated_at: float
    error: JobError | None

    @classmethod
    def of(cls, job: JobRecord) -> JobResponse:
        error = None
        if job.error_code:
            error = JobError(code=job.error_code, message=job.error_message or "")
        return cls(
            job_id=job.job_id,
            status=job.status,
            progress=job.progress,
            message=job.message,
            duration=job.duration,
            epoch=job.epoch,
            cached=job.cached,
            video_id=job.video_id,
            source_kind=job.source_kind.value,
            created_at=job.created_at,
            updated_at=job.updated_at,
            error=error,
        )


class ErrorResponse(BaseModel):
    error: str
    code: str


class HealthResponse(BaseModel):
    status: str
    service: str
    backend: str
    backend_ok: bool


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 404, 413, 415, 422, 429, 503)
}

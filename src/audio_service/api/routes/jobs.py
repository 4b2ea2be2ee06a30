"""Job status, analysis and cancellation. No endpoint lists jobs: the id is the key."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter

from audio_service.api.deps import JobsDep
from audio_service.api.schemas import ERROR_RESPONSES, JobResponse
from audio_service.errors import JobNotFound, ServiceError
from audio_service.protocol import MAX_JOB_ID_LENGTH, ErrorCode

router = APIRouter(tags=["jobs"])


class AnalysisNotReady(ServiceError):
    code = ErrorCode.NOT_READY


@router.get("/job/{job_id}", response_model=JobResponse, responses=ERROR_RESPONSES)
@router.get("/jobs/{job_id}", response_model=JobResponse, responses=ERROR_RESPONSES)
async def get_job(job_id: str, jobs: JobsDep) -> JobResponse:
    """Status, progress and error of a job (``/api/job/{id}`` is the seed's path)."""
    return JobResponse.of(await jobs.get(job_id))


@router.get(
    "/jobs/{job_id}/analysis",
    responses={**ERROR_RESPONSES, 409: {"description": "the job is not complete"}},
)
async def get_analysis(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """The full analysis of a complete job."""
    analysis = await jobs.analysis(job_id)
    if analysis is None:
        job = await jobs.get(job_id)
        raise AnalysisNotReady(f"the job is {job.status.value}, not complete")
    # Annotated as a plain dict: FastAPI would otherwise validate (and filter) the body
    # against the Analysis TypedDict, a second copy of a shape that analysis code owns.
    return cast(dict[str, Any], analysis)


@router.delete("/jobs/{job_id}", response_model=JobResponse, responses=ERROR_RESPONSES)
async def cancel_job(job_id: str, jobs: JobsDep) -> JobResponse:
    """Cancel a job; a job that already ended is returned unchanged."""
    if len(job_id) > MAX_JOB_ID_LENGTH:
        raise JobNotFound("no such job")
    return JobResponse.of(await jobs.cancel(job_id))

"""Every Redis key the service writes, in one place, all under ``settings.redis_prefix``.

| key | type | expiry |
|---|---|---|
| ``{p}:job:{job_id}`` | hash: the job record, one JSON value per field | active TTL, refreshed by each event; retention once finished |
| ``{p}:log:{job_id}`` | stream: the event log, entry id ``0-<seq>`` | as the job record |
| ``{p}:queue`` | stream + consumer group :data:`QUEUE_GROUP`: jobs to run | active TTL, refreshed by each enqueue |
| ``{p}:upload:{ref}`` | list of 1 MiB pieces of an uploaded file | upload TTL; deleted when the job ends |
| ``{p}:uploads`` | hash: size and expiry of each upload waiting in Redis (the byte budget) | upload TTL |
| ``{p}:finished`` | sorted set: finished jobs by finish time (at most MAX_RETAINED_JOBS) | retention |
| ``{p}:rate:{client}`` | sorted set: a client's job creations in the last minute | 60 s |
| ``{p}:active:{client}`` | counter: a client's queued and running jobs | active TTL, refreshed by each job |
| ``{p}:wake:{instance}`` | stream of one entry: wakes one process's tail | :data:`WAKE_TTL_SECONDS` |
| ``{p}:cache:{key}`` | string: the job id whose log holds the analysis of ``key`` | the job's retention |
"""  # noqa: E501 - a table reads better unwrapped

from __future__ import annotations

from dataclasses import dataclass

#: The consumer group of the job queue; every worker is a consumer in it.
QUEUE_GROUP = "workers"
#: A wake stream outlives any tail that reads it; nobody reads it after its process ends.
WAKE_TTL_SECONDS = 60
#: Keys of jobs that are still running: far longer than a job can queue and run.
ACTIVE_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def log(self, job_id: str) -> str:
        return f"{self.prefix}:log:{job_id}"

    def upload(self, ref: str) -> str:
        return f"{self.prefix}:upload:{ref}"

    @property
    def upload_budget(self) -> str:
        return f"{self.prefix}:uploads"

    @property
    def finished(self) -> str:
        return f"{self.prefix}:finished"

    def rate(self, client: str) -> str:
        return f"{self.prefix}:rate:{client}"

    def active(self, client: str) -> str:
        return f"{self.prefix}:active:{client}"

    def cache(self, key: str) -> str:
        return f"{self.prefix}:cache:{key}"

    def wake(self, instance: str) -> str:
        return f"{self.prefix}:wake:{instance}"

    @property
    def queue(self) -> str:
        return f"{self.prefix}:queue"

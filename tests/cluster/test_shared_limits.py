"""Limits are shared by the nodes of a cluster: a client cannot multiply its quota by
spreading its requests over N nodes (it had N times RATE_LIMIT_PER_MINUTE)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx

from tests.support.server import run_server

LIMIT = 3


async def test_the_job_creation_limit_counts_over_every_node(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    settings = {
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "rate_limit_per_minute": LIMIT,
        "allow_private_urls": "true",  # the jobs only wait in the queue: no worker runs
    }
    with contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(run_server(tmp_path, **settings)) for _ in range(2)]
        async with httpx.AsyncClient(timeout=30) as http:
            answers = []
            for i in range(LIMIT + 2):
                node = nodes[i % 2]  # alternate: each node alone would allow LIMIT
                body = {"url": f"http://127.0.0.1:9/{i}.mp3"}
                answers.append(await http.post(node.url + "/api/analyze", json=body))
    statuses = [a.status_code for a in answers]
    assert statuses == [202] * LIMIT + [429, 429], [a.text for a in answers]
    refused = answers[-1]
    assert refused.json()["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60

"""Property-based fuzzing of the REST API from its own OpenAPI schema (schemathesis):
no 5xx, and every answer matches the schema, for a bounded number of examples.

One check is left out: "schema-valid data is accepted". Whether a job can be created
depends on what no schema states (the URL's host resolves to a public address, the file
is audio), so a well-formed request is rightly refused with 400 now and then.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.server import ServiceProcess


def _loopback(url: Any) -> Any:
    """The same URL with a numeric loopback host: refused without a DNS lookup."""
    if not isinstance(url, str):
        return url  # invalid data, refused before any lookup
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() in ("http", "https") and parts.hostname:
            return urlunsplit(parts._replace(netloc="127.0.0.1"))
    except ValueError:
        pass
    return url


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    # Generated URLs could name real hosts: the API would resolve them, and the tests
    # leave the machine for nothing.
    if isinstance(body, dict):
        return {k: _loopback(v) if k in ("url", "youtube_url") else v for k, v in body.items()}
    return body


def test_api_conforms_to_its_schema(strict: ServiceProcess) -> None:
    # schemathesis' own pytest plugin does not run under pytest 9; hypothesis drives each
    # operation's strategy directly instead.
    schema = schemathesis.openapi.from_url(strict.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:
        # Valid requests, then invalid ones (which must be refused with a 4xx).
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=20,
                deadline=None,
                derandomize=True,  # the same examples on every run
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                case.call_and_validate(excluded_checks=[positive_data_acceptance])

            try:
                check()
            except Unsatisfiable:
                # An operation without inputs has no invalid request to make.
                assert mode is GenerationMode.NEGATIVE, operation.label

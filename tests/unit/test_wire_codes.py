"""protocol.py owns every wire code; the copies elsewhere must agree with it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from audio_service import errors
from audio_service.api.errors import HTTP_STATUS
from audio_service.api.routes.jobs import AnalysisNotReady
from audio_service.api.uploads import BodyLeftUnread
from audio_service.backends import lua
from audio_service.protocol import (
    FINISHED_STATUSES,
    TERMINAL_EVENTS,
    ErrorCode,
    JobStatus,
    MessageType,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "audio_service"


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(c) for c in found))


def test_the_lua_scripts_know_the_same_finished_statuses() -> None:
    # UPDATE compares against the JSON-encoded status values: '"complete"' and so on.
    table = re.search(r"local finished = \{(.*?)\}\n", lua.UPDATE)
    assert table is not None
    in_lua = set(re.findall(r"\['\"(\w+)\"'\] = true", table.group(1)))
    assert in_lua == {status.value for status in FINISHED_STATUSES}
    assert {s for s in JobStatus if s.finished} == FINISHED_STATUSES


def test_the_terminal_events_are_complete_and_error() -> None:
    assert {MessageType.COMPLETE, MessageType.ERROR} == TERMINAL_EVENTS


def test_every_error_class_declares_a_code_with_an_http_status() -> None:
    classes = _subclasses(errors.ServiceError)
    assert {AnalysisNotReady, BodyLeftUnread, errors.DecodeError} <= classes
    for cls in classes:
        assert isinstance(cls.code, ErrorCode), cls
        assert cls.code in HTTP_STATUS, cls


def test_no_module_but_protocol_spells_a_wire_code() -> None:
    codes = {code.value for code in ErrorCode}
    spelled = []
    for path in SRC.rglob("*.py"):
        if path.name == "protocol.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in codes:
                spelled.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value}")
    assert spelled == []

from __future__ import annotations

import json
import math

import pytest

from audio_service.protocol import (
    ChunkMessage,
    CompleteMessage,
    ErrorCode,
    ErrorMessage,
    Event,
    PayloadError,
    PreparedComplete,
    ProgressMessage,
    encode_message,
    event_payload,
    parse_subscribe,
    socketio_event_text,
)


def test_seed_message_classes_keep_their_shape() -> None:
    assert ProgressMessage("analyzing", 40, "Analyzing").to_dict() == {
        "status": "analyzing",
        "progress": 40,
        "message": "Analyzing",
        "type": "progress",
    }
    assert ChunkMessage(3.0, {"a": 1}).to_dict() == {
        "timestamp": 3.0,
        "segment": {"a": 1},
        "type": "chunk",
    }
    assert CompleteMessage({"x": 1}).to_dict() == {"analysis": {"x": 1}, "type": "complete"}
    assert ErrorMessage("DECODE_ERROR", "bad").to_dict() == {
        "code": "DECODE_ERROR",
        "message": "bad",
        "type": "error",
    }


def test_prepared_complete_encodes_as_the_complete_message() -> None:
    analysis = {"duration": 12.5, "tempo": {"bpm": 120.0, "confidence": 0.9}, "segments": []}
    prepared = PreparedComplete.of(analysis)
    assert encode_message(prepared) == encode_message(CompleteMessage(analysis))
    assert prepared.duration == 12.5
    assert PreparedComplete.of({"segments": []}).duration is None
    with pytest.raises(ValueError):  # strict JSON, as for every other message
        PreparedComplete.of({"duration": math.nan})


def test_job_payload_carries_job_id_and_seq() -> None:
    name, data = encode_message(ChunkMessage(1.0, {"start_time": 1.0}))
    payload = event_payload("job-1", Event(7, name, data))
    assert payload == {
        "job_id": "job-1",
        "seq": 7,
        "timestamp": 1.0,
        "segment": {"start_time": 1.0},
        "type": "chunk",
    }
    text = socketio_event_text(name, json.dumps(payload))
    assert text.startswith('2["chunk",{') and json.loads(text[1:])[1] == payload


def test_job_id_is_json_escaped() -> None:
    name, data = encode_message(ProgressMessage("pending", 0, "q"))
    assert event_payload('a"b', Event(1, name, data))["job_id"] == 'a"b'


def test_nan_is_never_encoded() -> None:
    with pytest.raises(ValueError):
        encode_message(ChunkMessage(0.0, {"loudness": math.nan}))


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (None, ErrorCode.INVALID_PAYLOAD),
        ("job", ErrorCode.INVALID_PAYLOAD),
        ([1], ErrorCode.INVALID_PAYLOAD),
        ({}, ErrorCode.INVALID_JOB),
        ({"job_id": ["x"]}, ErrorCode.INVALID_JOB),
        ({"job_id": "x" * 65}, ErrorCode.INVALID_JOB),
        ({"job_id": "x", "last_seq": True}, ErrorCode.INVALID_PAYLOAD),
        ({"job_id": "x", "last_seq": 1.5}, ErrorCode.INVALID_PAYLOAD),
    ],
)
def test_parse_subscribe_refuses_bad_payloads(payload: object, code: ErrorCode) -> None:
    with pytest.raises(PayloadError) as info:
        parse_subscribe(payload)
    assert info.value.code is code


def test_parse_subscribe_accepts_resume() -> None:
    request = parse_subscribe({"job_id": "abc", "last_seq": 4})
    assert (request.job_id, request.last_seq) == ("abc", 4)
    assert parse_subscribe({"job_id": "abc"}).last_seq is None

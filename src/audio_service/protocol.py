"""The wire protocol: event names, payload shapes, error codes and their encodings.

Nothing else in the service builds a payload dict by hand. Job events are stored once as
compact JSON (``Event.data``) and spliced into Socket.IO packet text for every recipient,
so a chunk is serialised once per node however many sockets follow it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

#: Job ids carry 128 random bits (``secrets.token_urlsafe(16)`` gives 22 characters).
JOB_ID_BYTES = 16
MAX_JOB_ID_LENGTH = 64
#: The largest seq a client may name: the largest integer JavaScript holds exactly.
MAX_SEQ = 2**53 - 1
MAX_EPOCH_LENGTH = 64


class MessageType(StrEnum):
    CONNECTED = "connected"
    SUBSCRIBED = "subscribed"
    PROGRESS = "progress"
    CHUNK = "chunk"
    COMPLETE = "complete"
    ERROR = "error"


class JobStatus(StrEnum):
    #: Accepted, waiting for a worker.
    PENDING = "pending"
    #: Downloading the media of a URL job.
    EXTRACTING = "extracting"
    #: Decoding and analysing; chunks are streaming.
    ANALYZING = "analyzing"
    #: Finished; the full analysis is available.
    COMPLETE = "complete"
    #: Finished with an error event.
    ERROR = "error"
    #: Stopped by ``DELETE /api/jobs/{id}``.
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATUSES


#: Statuses a job never leaves (the Redis scripts hold a copy: ``backends/lua.py``).
FINISHED_STATUSES = frozenset({JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELLED})


class ErrorCode(StrEnum):
    """Every ``code`` the service sends: in ``error`` events, acks and HTTP error bodies."""

    INVALID_JOB = "INVALID_JOB"  #: subscribe/unsubscribe without a usable job_id
    INVALID_PAYLOAD = "INVALID_PAYLOAD"  #: an event payload of the wrong shape
    JOB_NOT_FOUND = "JOB_NOT_FOUND"  #: unknown, expired or someone else's id: same answer
    RATE_LIMITED = "RATE_LIMITED"
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    UNKNOWN_EVENT = "UNKNOWN_EVENT"
    BACKEND_UNAVAILABLE = "BACKEND_UNAVAILABLE"
    DECODE_ERROR = "DECODE_ERROR"
    TOO_LONG = "TOO_LONG"
    INVALID_URL = "INVALID_URL"
    DOWNLOAD_ERROR = "DOWNLOAD_ERROR"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    WORKER_LOST = "WORKER_LOST"
    #: The job's log was lost or rewound (Redis restarted empty, a failover to a lagging
    #: replica): terminal for its subscribers, and the answer to a resume from another epoch.
    JOB_LOST = "JOB_LOST"
    #: The process holds MAX_CONNECTIONS connections (503 on the engine.io handshake).
    AT_CAPACITY = "AT_CAPACITY"
    #: MAX_QUEUED_JOBS jobs are queued or running: 503 with Retry-After.
    QUEUE_FULL = "QUEUE_FULL"
    #: The client already has MAX_ACTIVE_JOBS_PER_CLIENT jobs queued or running: 429.
    TOO_MANY_JOBS = "TOO_MANY_JOBS"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    INVALID_REQUEST = "INVALID_REQUEST"  #: a REST request body or parameter of the wrong shape
    TOO_LARGE = "TOO_LARGE"  #: an upload over MAX_UPLOAD_MB
    UNSUPPORTED_MEDIA = "UNSUPPORTED_MEDIA"  #: an upload that is plainly not audio
    NOT_READY = "NOT_READY"  #: the analysis of a job that is not complete
    NOT_FOUND = "NOT_FOUND"  #: an HTTP path that does not exist
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"  #: a request from an origin not in ALLOWED_ORIGINS
    HTTP_ERROR = "HTTP_ERROR"  #: any other HTTP error status


# -- payload shapes (docs/ANALYSIS.md lists the fields and their units) --------------------


class Segment(TypedDict):
    """One second of audio, the ``segment`` of a ``chunk`` event."""

    start_time: float
    end_time: float
    #: ``bass``, ``low_mid``, ``mid``, ``high_mid``, ``high``: 0..1 (``frequencies_db``: dBFS)
    frequencies: dict[str, float]
    frequencies_db: dict[str, float]
    loudness: float
    loudness_db: float
    lufs: float
    #: Max momentary (400 ms) loudness in the second, and short-term (3 s) at its end, LUFS.
    lufs_momentary: NotRequired[float]
    lufs_short_term: NotRequired[float]
    spectral_centroid: float
    onset_strength: float
    beat_strength: float
    tempo: float | None
    tempo_confidence: float
    #: ``auditory_cortex``, ``amygdala``, ... (``indices.REGIONS``), each 0..1
    brain_regions: dict[str, float]
    #: ``delta``, ``theta``, ``alpha``, ``beta``, ``gamma``: shares that sum to 1
    brainwaves: dict[str, float]
    #: ``primary`` (a label), ``confidence``, ``valence``, ``arousal`` (0..1)
    emotion: dict[str, float | str]


class Tempo(TypedDict):
    bpm: float | None
    confidence: float


class TempoPoint(TypedDict):
    time: float
    bpm: float


class Section(TypedDict):
    start: float
    end: float
    label: str
    tempo: NotRequired[float | None]
    key: NotRequired[str | None]
    mode: NotRequired[str | None]
    lufs: NotRequired[float]


class Analysis(TypedDict):
    """The song-level results, the ``analysis`` of a ``complete`` event."""

    duration: float
    tempo: Tempo
    tempo_curve: NotRequired[list[TempoPoint]]
    beats: NotRequired[list[float]]
    downbeats: NotRequired[list[float]]
    time_signature: NotRequired[int | None]
    music_likelihood: NotRequired[float]
    key: str | None
    mode: str | None
    key_confidence: float
    loudness: float
    loudness_db: float
    lufs: float
    emotion: dict[str, float | str]
    sections: list[Section]
    segment_count: int
    #: Added by ``analyze_file``.
    samplerate: NotRequired[int]
    channels: NotRequired[int]
    segments: NotRequired[list[Segment]]


class SubscribedPayload(TypedDict):
    job_id: str
    status: str
    progress: int
    last_seq: int
    #: The log's epoch: a client resuming later sends it back.
    epoch: str
    #: Seconds of audio, once known.
    duration: float | None


class OkAck(TypedDict):
    ok: bool
    job_id: str
    status: str
    last_seq: int
    epoch: str


class ErrorAck(TypedDict):
    ok: bool
    code: str
    message: str
    #: The job a refused subscribe or unsubscribe was about.
    job_id: NotRequired[str]


Ack = OkAck | ErrorAck


def dumps(obj: Any) -> str:
    """Compact, strict JSON: NaN or infinity is a bug upstream, never sent."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


@dataclass
class ConnectedMessage:
    type: str = MessageType.CONNECTED.value
    job_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProgressMessage:
    status: str
    progress: int
    message: str
    type: str = MessageType.PROGRESS.value
    #: Seconds of audio, once known: set on the first ``analyzing`` event only.
    duration: float | None = None

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        if self.duration is None:
            del body["duration"]
        return body


@dataclass
class ChunkMessage:
    timestamp: float
    segment: Segment
    type: str = MessageType.CHUNK.value

    def to_dict(self) -> dict[str, Any]:
        # asdict would deep-copy the segment; it is already plain JSON data.
        return {"timestamp": self.timestamp, "segment": self.segment, "type": self.type}


@dataclass
class CompleteMessage:
    analysis: Analysis
    type: str = MessageType.COMPLETE.value

    def to_dict(self) -> dict[str, Any]:
        return {"analysis": self.analysis, "type": self.type}


@dataclass
class ErrorMessage:
    code: ErrorCode
    message: str
    type: str = MessageType.ERROR.value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PreparedComplete:
    """A ``complete`` message encoded where the analysis was made: the job process.

    The analysis of a 5-minute song is about 300 KB of JSON; encoded there, the server
    appends ``data`` as it is instead of serialising it on its event loop, and the pipe
    between the two carries one string rather than a pickled tree of floats.
    """

    #: The compact JSON ``encode_message`` gives for ``CompleteMessage(analysis)``.
    data: str
    #: The analysis' ``duration`` (s), for the runner's real-time factor.
    duration: float | None
    type: str = MessageType.COMPLETE.value

    @classmethod
    def of(cls, analysis: Analysis) -> PreparedComplete:
        _name, data = encode_message(CompleteMessage(analysis))
        duration = analysis.get("duration")
        return cls(data, float(duration) if isinstance(duration, int | float) else None)


JobMessage = ProgressMessage | ChunkMessage | CompleteMessage | PreparedComplete | ErrorMessage

#: Events after which a job's log is closed.
TERMINAL_EVENTS = frozenset({MessageType.COMPLETE.value, MessageType.ERROR.value})


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a job's event log.

    ``data`` is the compact JSON object of the message without ``job_id`` and ``seq``;
    those are spliced in by :func:`event_payload_json`. ``appended_at`` is the wall-clock
    time of the append (seconds since the epoch) where the back-end records it, else 0; it
    is never sent, only measured against (delivery latency).
    """

    seq: int
    name: str
    data: str
    appended_at: float = field(default=0.0, compare=False)

    @property
    def terminal(self) -> bool:
        return self.name in TERMINAL_EVENTS


def encode_message(message: JobMessage) -> tuple[str, str]:
    """Return ``(event name, compact JSON data)`` ready to append to a job's log."""
    if isinstance(message, PreparedComplete):
        return message.type, message.data
    body = message.to_dict()
    return str(body["type"]), dumps(body)


def event_payload_json(job_id: str, event: Event) -> str:
    """The wire payload of a job event: its data with ``job_id`` and ``seq`` first."""
    head = '{"job_id":' + json.dumps(job_id) + ',"seq":' + str(event.seq)
    if event.data == "{}":
        return head + "}"
    return head + "," + event.data[1:]


def event_payload(job_id: str, event: Event) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(event_payload_json(job_id, event))
    return payload


def socketio_event_text(name: str, payload_json: str) -> str:
    """Socket.IO v5 EVENT packet text in the default namespace: ``2["name",{...}]``."""
    return '2["' + name + '",' + payload_json + "]"


def subscribed_payload(
    job_id: str,
    status: str,
    progress: int,
    last_seq: int,
    duration: float | None = None,
    epoch: str = "",
) -> SubscribedPayload:
    return {
        "job_id": job_id,
        "status": status,
        "progress": progress,
        "last_seq": last_seq,
        "epoch": epoch,
        "duration": duration,
    }


def ok_ack(job_id: str, status: str, last_seq: int, epoch: str = "") -> OkAck:
    return {"ok": True, "job_id": job_id, "status": status, "last_seq": last_seq, "epoch": epoch}


def job_lost_text(job_id: str, seq: int) -> str:
    """The Socket.IO packet text of the terminal ``error`` JOB_LOST a node sends on its own
    (it is in no log: the log is what was lost). ``seq`` continues the subscriber's."""
    message = ErrorMessage(ErrorCode.JOB_LOST, "the job's events were lost; submit it again")
    event = Event(seq, MessageType.ERROR.value, dumps(message.to_dict()))
    return socketio_event_text(event.name, event_payload_json(job_id, event))


def error_ack(code: ErrorCode, message: str, job_id: str | None = None) -> ErrorAck:
    ack: ErrorAck = {"ok": False, "code": code.value, "message": message}
    if job_id is not None:
        ack["job_id"] = job_id
    return ack


def error_payload(code: ErrorCode, message: str, job_id: str | None = None) -> dict[str, Any]:
    """An ``error`` event answering a client's request (not one from a job's log).

    ``job_id`` names the job a refused subscribe or unsubscribe was about, so a client
    following several jobs can tell which one failed; it has no ``seq``.
    """
    payload = ErrorMessage(code=code, message=message).to_dict()
    if job_id is not None:
        payload["job_id"] = job_id
    return payload


@dataclass
class SubscribeRequest:
    """A validated ``subscribe``/``unsubscribe`` payload."""

    job_id: str
    last_seq: int | None = None
    #: The epoch of the log the client's ``last_seq`` counts in (from ``subscribed``).
    epoch: str | None = None


class PayloadError(ValueError):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_subscribe(data: Any) -> SubscribeRequest:
    """Validate a client payload ``{job_id, last_seq?}`` of any shape, raising PayloadError."""
    if not isinstance(data, dict):
        raise PayloadError(
            ErrorCode.INVALID_PAYLOAD, "payload must be an object {job_id, last_seq?}"
        )
    job_id = data.get("job_id")
    if job_id is None:
        raise PayloadError(ErrorCode.INVALID_JOB, "job_id is required")
    if not isinstance(job_id, str):
        raise PayloadError(ErrorCode.INVALID_JOB, "job_id must be a string")
    if not job_id:
        raise PayloadError(ErrorCode.INVALID_JOB, "job_id must not be empty")
    if len(job_id) > MAX_JOB_ID_LENGTH:
        raise PayloadError(ErrorCode.INVALID_JOB, "job_id is too long")
    last_seq = data.get("last_seq")
    if last_seq is not None and (
        isinstance(last_seq, bool) or not isinstance(last_seq, int) or last_seq < 0
    ):
        raise PayloadError(ErrorCode.INVALID_PAYLOAD, "last_seq must be a non-negative integer")
    if last_seq is not None and last_seq > MAX_SEQ:
        # Redis stream ids stop at 2^64 - 1 and JavaScript numbers are exact to 2^53.
        raise PayloadError(ErrorCode.INVALID_PAYLOAD, f"last_seq must be at most {MAX_SEQ}")
    epoch = data.get("epoch")
    if epoch is not None and (not isinstance(epoch, str) or len(epoch) > MAX_EPOCH_LENGTH):
        raise PayloadError(
            ErrorCode.INVALID_PAYLOAD, f"epoch must be a string of at most {MAX_EPOCH_LENGTH}"
        )
    return SubscribeRequest(job_id=job_id, last_seq=last_seq, epoch=epoch)

"""One root exception; each subclass carries its wire code.

They turn into HTTP responses or ``error`` events only at the edge: ``api/errors.py`` maps
each code to an HTTP status, ``websocket/server.py`` and ``jobs/process.py`` send the code
in an ``error`` event.
"""

from __future__ import annotations

from typing import ClassVar

from audio_service.protocol import ErrorCode


class ServiceError(Exception):
    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ServiceError):
    code = ErrorCode.INVALID_REQUEST


class InvalidURL(ServiceError):
    code = ErrorCode.INVALID_URL


class JobNotFound(ServiceError):
    code = ErrorCode.JOB_NOT_FOUND


class UploadTooLarge(ServiceError):
    code = ErrorCode.TOO_LARGE


class UnsupportedMedia(ServiceError):
    code = ErrorCode.UNSUPPORTED_MEDIA


class RateLimited(ServiceError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyJobs(RateLimited):
    code = ErrorCode.TOO_MANY_JOBS


class QueueFull(ServiceError):
    code = ErrorCode.QUEUE_FULL

    def __init__(self, message: str, retry_after: float = 10.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BackendUnavailable(ServiceError):
    code = ErrorCode.BACKEND_UNAVAILABLE


class DecodeError(ServiceError):
    """The file is not audio we can decode, or it is damaged."""

    code = ErrorCode.DECODE_ERROR


class AudioTooLong(ServiceError):
    code = ErrorCode.TOO_LONG


class DownloadError(ServiceError):
    """A URL could not be fetched (HTTP error, not media, too large, too slow)."""

    code = ErrorCode.DOWNLOAD_ERROR

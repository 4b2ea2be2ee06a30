"""One root exception; each subclass carries its wire code and HTTP status.

They turn into HTTP responses or ``error`` events only at the edge (``api/errors.py``,
``websocket/server.py``, ``jobs/runner.py``).
"""

from __future__ import annotations


class ServiceError(Exception):
    code = "INTERNAL_ERROR"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ServiceError):
    code = "INVALID_REQUEST"
    http_status = 400


class InvalidURL(ServiceError):
    code = "INVALID_URL"
    http_status = 400


class JobNotFound(ServiceError):
    code = "JOB_NOT_FOUND"
    http_status = 404


class UploadTooLarge(ServiceError):
    code = "TOO_LARGE"
    http_status = 413


class UnsupportedMedia(ServiceError):
    code = "UNSUPPORTED_MEDIA"
    http_status = 415


class RateLimited(ServiceError):
    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BackendUnavailable(ServiceError):
    code = "BACKEND_UNAVAILABLE"
    http_status = 503


class DecodeError(ServiceError):
    """The file is not audio we can decode, or it is damaged."""

    code = "DECODE_ERROR"
    http_status = 415


class AudioTooLong(ServiceError):
    code = "TOO_LONG"
    http_status = 413


class DownloadError(ServiceError):
    """A URL could not be fetched (HTTP error, not media, too large, too slow)."""

    code = "DOWNLOAD_ERROR"
    http_status = 400


class JobTimeout(ServiceError):
    code = "TIMEOUT"
    http_status = 504


class JobCancelled(ServiceError):
    code = "CANCELLED"
    http_status = 409

"""Errors become JSON ``{error, code}`` responses here, and only here."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from audio_service.api.uploads import BodyLeftUnread
from audio_service.errors import QueueFull, RateLimited, ServiceError
from audio_service.protocol import ErrorCode

logger = logging.getLogger(__name__)

#: The HTTP status of each error a request can end with (500 for any other).
HTTP_STATUS = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_URL: 400,
    ErrorCode.DOWNLOAD_ERROR: 400,
    ErrorCode.JOB_NOT_FOUND: 404,
    ErrorCode.NOT_READY: 409,
    ErrorCode.CANCELLED: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.TOO_LONG: 413,
    ErrorCode.UNSUPPORTED_MEDIA: 415,
    ErrorCode.DECODE_ERROR: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_JOBS: 429,
    ErrorCode.BACKEND_UNAVAILABLE: 503,
    ErrorCode.QUEUE_FULL: 503,
    ErrorCode.TIMEOUT: 504,
}

#: The code of an HTTP error raised by the framework (unknown path, wrong method...).
_HTTP_CODES = {
    400: ErrorCode.INVALID_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA,
    422: ErrorCode.INVALID_REQUEST,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.BACKEND_UNAVAILABLE,
}


def error_response(status: int, message: str, code: ErrorCode) -> JSONResponse:
    return JSONResponse({"error": message, "code": code.value}, status_code=status)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    response = error_response(HTTP_STATUS.get(exc.code, 500), exc.message, exc.code)
    if isinstance(exc, RateLimited | QueueFull):
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if isinstance(exc, RateLimited | BodyLeftUnread):
        # The body was not read to its end. Otherwise the server would keep reading (and
        # dropping) the rest of a refused body for as long as the client sends it.
        response.headers["Connection"] = "close"
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))
    return error_response(422, message, ErrorCode.INVALID_REQUEST)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.HTTP_ERROR)
    response = error_response(exc.status_code, str(exc.detail), code)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error", ErrorCode.INTERNAL_ERROR)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

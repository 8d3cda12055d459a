"""Every error becomes ``{"error": {"code", "message", ...details}}`` here, and only here."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from facerec import errors
from facerec.logs import current_request_id
from facerec.metrics.instruments import shed

log = logging.getLogger(__name__)

STATUS: dict[type[errors.FaceRecError], int] = {
    errors.InvalidImage: 400,
    errors.UnsupportedFormat: 415,
    errors.ImageTooLarge: 413,
    errors.ValidationFailed: 422,
    errors.InputError: 400,
    errors.FaceError: 422,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Busy: 503,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.RateLimited: 429,
    errors.NotReady: 503,
    errors.DownloadFailed: 502,
}
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "image_too_large"}


def error_response(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    headers = {"Retry-After": "1"} if status == 503 else None
    if status == 429:
        headers = {"Retry-After": str(max(1, int(details.get("retry_after", 1))))}
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="facerec"'}
    body = {"error": {"code": code, "message": message, **details}}
    if (rid := current_request_id()) is not None:
        body["error"]["request_id"] = rid
    return JSONResponse(status_code=status, content=body, headers=headers)


def internal_error_response() -> JSONResponse:
    return error_response(500, "internal_error", "an unexpected error occurred")


def status_of(exc: errors.FaceRecError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


async def _facerec_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.FaceRecError)
    return error_response(status_of(exc), exc.code, exc.message, **exc.details)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"loc": [str(p) for p in e.get("loc", ())], "message": e.get("msg", "")}
        for e in exc.errors()
    ]
    first = fields[0] if fields else {"loc": [], "message": "invalid request"}
    message = f"{'.'.join(first['loc'][1:]) or 'request'}: {first['message']}"
    return error_response(422, "validation_error", message, fields=fields)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


async def _pool_exhausted(_: Request, exc: Exception) -> JSONResponse:
    """No database connection came free in time (``db/pool.py``): overload, so 503."""
    assert isinstance(exc, PoolTimeout)
    shed("db_pool")
    busy = errors.Busy("the server is busy (no database connection free); retry shortly")
    return error_response(status_of(busy), busy.code, busy.message)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    """Last resort, for an error raised outside ``api/unhandled.py`` (which logs the
    others): not logged here, since Starlette raises it again for the server to log."""
    return internal_error_response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.FaceRecError, _facerec_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PoolTimeout, _pool_exhausted)
    app.add_exception_handler(Exception, _unexpected)


class ErrorDetail(BaseModel):
    code: str
    """Stable machine-readable code, e.g. ``invalid_image``, ``no_face``, ``not_found``."""
    message: str
    request_id: str | None = None
    """The request's ``X-Request-ID``, to find its log lines."""


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Invalid image or request",
        404: "Unknown id",
        409: "Conflict",
        413: "Image too large",
        415: "Unsupported image format",
        422: "Validation error, no face, or several faces",
        503: "Busy or not ready; retry after the Retry-After header",
    }.items()
}

"""Every error becomes ``{"error": {"code", "message", ...details}}`` here, and only here."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from facerec import errors

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
    errors.NotReady: 503,
}
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "image_too_large"}


def error_response(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    headers = {"Retry-After": "1"} if status == 503 else None
    body = {"error": {"code": code, "message": message, **details}}
    return JSONResponse(status_code=status, content=body, headers=headers)


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


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "an unexpected error occurred")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.FaceRecError, _facerec_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


class ErrorDetail(BaseModel):
    code: str
    """Stable machine-readable code, e.g. ``invalid_image``, ``no_face``, ``not_found``."""
    message: str


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

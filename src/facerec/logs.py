"""Logging, configured in one place: every line has its time, level, logger and request id.

``facerec serve`` hands :func:`logging_config` to uvicorn (which applies it in the
supervisor and in every worker process); :func:`configure` applies the same from
``create_app`` when nothing else has configured logging (``uvicorn --factory``), and
leaves a host that has (pytest, an embedding application) alone. uvicorn's own loggers,
the access log included, go through the same handler.

``FACEREC_LOG__FORMAT=json`` writes one JSON object per line instead of text;
``FACEREC_LOG__LEVEL`` sets the level. The request id comes from :data:`request_id`,
set for each request by ``api/request_id.py``; outside a request it is ``-``.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from facerec.config import LogSettings

request_id: ContextVar[str | None] = ContextVar("facerec_request_id", default=None)
"""The id of the request being served (``X-Request-ID``); None outside a request."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
HANDLER = "facerec"
"""The name of our handler on the root logger."""
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def current_request_id() -> str | None:
    return request_id.get()


class RequestIdFilter(logging.Filter):
    """Stamps every record that reaches our handler with the current request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        return True


def _timestamp(record: logging.LogRecord) -> str:
    """ISO 8601 in UTC, to the millisecond: ``2026-11-23T09:00:00.123Z``."""
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """One human-readable line per record (plus the traceback, when there is one)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _timestamp(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request_id, message[, exception]."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or request_id.get() or "-",
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (not when built)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # (emit runs under the handler's lock)
        super().emit(record)


def make_handler(settings: LogSettings, stream: TextIO | None = None) -> logging.Handler:
    """Our handler: the formatter ``settings.format`` names and the request id filter."""
    handler: logging.Handler = StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.set_name(HANDLER)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def logging_config(settings: LogSettings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary (what uvicorn's ``log_config`` takes)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {HANDLER: {"()": make_handler, "settings": settings}},
        "root": {"handlers": [HANDLER], "level": settings.level},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": "NOTSET"} for name in UVICORN_LOGGERS
        },
    }


def configure(settings: LogSettings) -> bool:
    """Apply :func:`logging_config` unless the root logger has handlers that are not ours.

    True when applied. Idempotent: our previous handler is replaced, not duplicated."""
    root = logging.getLogger()
    if any(handler.get_name() != HANDLER for handler in root.handlers):
        return False
    logging.config.dictConfig(logging_config(settings))
    return True

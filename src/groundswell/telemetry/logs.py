"""Logs as one JSON object per line (``GROUNDSWELL_LOG_FORMAT=json``), each request's lines tied by its id.

Why a contextvar for the request id: a line logged anywhere below a handler (a use case, the store) belongs to
the request without every function passing the id along. The request middleware
(:class:`groundswell.telemetry.http.RequestTelemetry`) sets it; :class:`JsonFormatter` reads it.

Why the standard ``logging`` module and a small formatter: every library the service runs on (uvicorn,
SQLAlchemy, Alembic) already logs through it, so one handler on the root logger turns all of their lines into
JSON too.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "ACCESS_LOGGER",
    "REQUEST_ID",
    "JsonFormatter",
    "LogFormat",
    "configure_logging",
    "new_request_id",
    "uvicorn_log_config",
    "valid_request_id",
]

LogFormat = Literal["text", "json"]

#: The current request's id, or ``None`` outside a request (the runner, start-up).
REQUEST_ID: ContextVar[str | None] = ContextVar("groundswell_request_id", default=None)
#: One line per request (JSON format only): method, route template, status, duration.
ACCESS_LOGGER = "groundswell.access"

#: An id a reverse proxy may hand in (nginx's ``$request_id`` is 32 hex digits): short and plain, so it cannot
#: forge log lines or carry a payload.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: LogRecord attributes that are not ``extra`` fields (``color_message`` is uvicorn's coloured copy).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "color_message"}
#: Marks the handler :func:`configure_logging` installs, so configuring again replaces it instead of doubling.
_MARK = "_groundswell_handler"


def new_request_id() -> str:
    return secrets.token_hex(8)


def valid_request_id(value: str | None) -> str | None:
    """``value`` when it may serve as a request id, else ``None``."""
    return value if value is not None and _CLIENT_ID.fullmatch(value) else None


class JsonFormatter(logging.Formatter):
    """``{"timestamp", "level", "logger", "message", "request_id"?, ...extra, "exception"?}`` on one line.

    ``extra={...}`` fields become top-level keys, so the access line's ``status`` or ``duration_ms`` can be
    filtered on without parsing the message. Non-ASCII is escaped, so no character in a message can split a
    line for a collector that splits on Unicode line separators.
    """

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        entry: dict[str, Any] = {
            "timestamp": created.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def configure_logging(log_format: LogFormat) -> None:
    """Set up the process's logging for ``log_format``; safe to call again (the web app's factory and the CLI
    both call it in a process that serves).

    ``text`` leaves logging as it was (uvicorn's own lines, warnings and errors on stderr) and keeps the access
    line off, because a person at a terminal wants the server quiet. ``json`` sends everything to stderr as
    JSON: Groundswell's lines from INFO (the access line included), uvicorn's at its ``--log-level``, other
    libraries' from WARNING.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
    if log_format != "json":
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.getLogger("groundswell").setLevel(logging.INFO)
    # uvicorn's dictConfig gives its loggers their own text handlers; send their lines through this one.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def uvicorn_log_config(log_format: LogFormat) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config``: in JSON mode uvicorn must not install its text
    handlers (its lines then reach the JSON handler on the root logger)."""
    return {"log_config": None} if log_format == "json" else {}

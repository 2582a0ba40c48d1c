"""Request telemetry for an ASGI app: a request id on every request and response, Prometheus request metrics
by route template, and (with JSON logs) one access line per request; plus the ``/metrics`` exposition.

Why a plain ASGI middleware and not Starlette's ``BaseHTTPMiddleware``: the latter runs each request through an
extra task and memory stream, which the annotator's hot path (a few milliseconds per answer) would feel. Here
the per-request cost is a clock read, a counter increment and a histogram observation.

Labels are the route *template* (``/api/v1/jobs/{name}``), never the raw path: a raw path carries job names,
invite tokens and, on the endpoint, tweet text in query strings, and every distinct path would be a new time
series. A path no route matches is ``unmatched``; a method outside the usual ones is ``other``.

Several server processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts), prometheus_client
keeps each process's values in files in that folder and :func:`exposition` sums them, so any process answers
``/metrics`` for all (https://prometheus.github.io/client_python/multiprocess/). Without it each process counts
in memory, which is right for one process.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from groundswell.telemetry.logs import ACCESS_LOGGER, REQUEST_ID, new_request_id, valid_request_id

__all__ = [
    "CONTENT_TYPE",
    "MULTIPROCESS_ENV",
    "REQUESTS",
    "REQUEST_SECONDS",
    "SCOPE_KEY",
    "RequestTelemetry",
    "exposition",
    "prepare_multiprocess_dir",
    "request_id_of",
]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The classic text format, which every Prometheus version reads (prometheus_client's latest, 1.0.0, is for
#: UTF-8 metric names, which these are not).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Read once, as prometheus_client does when it is first imported: the mode cannot change in a running process.
_MULTIPROCESS = bool(os.environ.get(MULTIPROCESS_ENV) or os.environ.get(MULTIPROCESS_ENV.lower()))
#: Where the middleware leaves the request id in the ASGI scope, for the error handler that runs outside it.
SCOPE_KEY = "groundswell.request_id"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LABELS = ("method", "route", "status")
#: Fine below 10 ms (an answer takes a few) and a bucket at 150 ms, the soak benchmark's p99 goal.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("groundswell_http_requests", "HTTP requests answered, by route template and status class.", _LABELS)
REQUEST_SECONDS = Histogram(
    "groundswell_http_request_duration_seconds",
    "Time from receiving a request to the end of its response, by route template and status class.",
    _LABELS,
    buckets=_BUCKETS,
)
_access = logging.getLogger(ACCESS_LOGGER)
# The ``_created`` twin of every counter and histogram series doubles what Prometheus stores and says nothing
# a counter reset does not.
disable_created_metrics()  # type: ignore[no-untyped-call]


def request_id_of(scope: Any) -> str:
    """The id :class:`RequestTelemetry` gave this request (a fresh one for an app without the middleware)."""
    request_id = scope.get(SCOPE_KEY)
    return request_id if isinstance(request_id, str) else new_request_id()


def _route(scope: dict[str, Any]) -> str:
    template = getattr(scope.get("route"), "path_format", None)
    if isinstance(template, str) and template:
        return template
    # A mounted app (the static files) leaves no route, only the prefix it took from the path.
    mount = scope.get("root_path", "")[len(scope.get("app_root_path", "")) :]
    return f"{mount}/{{path}}" if "endpoint" in scope and mount else "unmatched"


class RequestTelemetry:
    """ASGI middleware: request id (an ``X-Request-Id`` a proxy sent, if plain, else a new one) in a contextvar
    and on the response, request metrics, and the access log line."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = valid_request_id(incoming.decode("latin-1") if incoming else None) or new_request_id()
        scope[SCOPE_KEY] = request_id
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500  # what the caller gets when the app raises before it answers

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode("ascii"))]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = _route(scope)
            status_class = f"{status // 100}xx"
            REQUESTS.labels(method, route, status_class).inc()
            REQUEST_SECONDS.labels(method, route, status_class).observe(seconds)
            if _access.isEnabledFor(logging.INFO):
                _access.info(
                    "%s %s %d %.1f ms",
                    method,
                    route,
                    status,
                    seconds * 1000,
                    extra={"method": method, "route": route, "status": status, "duration_ms": round(seconds * 1000, 3)},
                )
            REQUEST_ID.reset(token)


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition of every metric of this process (of all processes in multiprocess mode), then of
    ``extra`` (collectors read at scrape time, such as the queue depth from the database)."""
    if _MULTIPROCESS:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # registers itself
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return body + b"".join(generate_latest(collector) for collector in extra)


def prepare_multiprocess_dir() -> Path | None:
    """Create the multiprocess folder and empty it of an earlier run's files (prometheus_client asks for a
    clean folder per run: old files would add a dead run's counts to the new one). ``None`` when not set."""
    value = os.environ.get(MULTIPROCESS_ENV)
    if not value:
        return None
    folder = Path(value)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)
    return folder

"""The one mapping from the error tree to HTTP, answered by route: JSON (:func:`groundswell.errors.error_body`)
under ``/api/``, an HTML page everywhere else.

Routes raise; none catches an error to render it. On a page, a caller who presented no credentials at all is
sent to sign in instead (the admin login form under ``/admin``, the "open your invite link" page elsewhere):
to someone who has not signed in yet, "401" is not an error but the next step.

A database that cannot do the work right now (unreachable while PostgreSQL restarts, its disk full, a lock
waited on too long) is a 503 with ``Retry-After``, not a 500: nothing is wrong with the request or the code,
the transaction was rolled back, and the same request (an answer with the same idempotency key) may succeed
in a moment; /healthz answers 503 for the same reason. Found by the fault suite (``tests/faults``).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from groundswell.errors import (
    ConflictError,
    GroundswellError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RejectedInputError,
    UsageError,
    error_body,
)
from groundswell.telemetry.http import request_id_of
from groundswell.web.auth import SESSION_COOKIE, NotAuthenticatedError, RejectedCredentialsError
from groundswell.web.render import page
from groundswell.web.throttle import Throttle, TooManyAttemptsError

__all__ = ["install_error_handlers", "status_for"]

API_PREFIX = "/api/"
_log = logging.getLogger("groundswell.web")


def status_for(exc: GroundswellError) -> int:
    if isinstance(exc, TooManyAttemptsError):
        return 429
    if isinstance(exc, NotAuthenticatedError):
        return 401
    if isinstance(exc, PermissionDeniedError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, InvalidInputError):
        return 422
    return 400


def _answer(
    request: Request,
    message: str,
    status: int,
    errors: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if request.url.path.startswith(API_PREFIX):
        return JSONResponse(error_body(message, status, errors), status_code=status, headers=headers)
    response = page(request, "error.html", status_code=status, message=message, status=status)
    response.headers.update(headers or {})
    return response


def _signed_out(request: Request) -> bool:
    return SESSION_COOKIE not in request.cookies and "authorization" not in request.headers


#: Seconds a client is asked to wait before it retries a request the database could not take (a restart's
#: outage, a full disk waiting for an operator, a lock): short, since retrying an answer is safe.
RETRY_AFTER_S = 2


def database_unavailable(exc: Exception) -> bool:
    """Whether ``exc`` says the database cannot work now (module docstring) rather than that the code is wrong:
    a DBAPI ``OperationalError`` (a lost or refused connection, SQLITE_FULL, a lock or statement timeout, a
    deadlock), any driver error that cost the connection, or no pooled connection free in time."""
    if isinstance(exc, OperationalError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


#: The methods a 405's ``Allow`` header may name.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> set[str]:
    """Every method some route fully serves at the request's path (asked of the router, method by method,
    so routes nested in included routers count too)."""
    routes = request.app.router.routes
    return {
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    }


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GroundswellError)
    async def _domain(request: Request, exc: GroundswellError) -> Response:
        if isinstance(exc, RejectedCredentialsError):  # the request's transaction is over: count it now
            throttle: Throttle = request.app.state.throttle
            await run_in_threadpool(throttle.failed, request.app.state.factory, exc.subjects)
        status = status_for(exc)
        if status == 401 and not request.url.path.startswith(API_PREFIX) and _signed_out(request):
            if request.url.path.startswith("/admin"):
                return RedirectResponse("/admin/login", status_code=303)
            return page(request, "signed_out.html", status_code=401)
        details = [str(p) for p in exc.problems] if isinstance(exc, RejectedInputError) else None
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TooManyAttemptsError):
            headers = {"Retry-After": str(exc.retry_after)}
        return _answer(request, str(exc), status, details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return _answer(request, errors[0] if errors else "invalid request", 422, errors)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # A bug, not an answer: the traceback goes to the log under a request id, the caller gets the id only
        # (in the documented error shape, so a client parses it like any other error).
        # This handler runs outside the request middleware, so the id is handed to the log line explicitly.
        request_id = request_id_of(request.scope)
        _log.error(
            "request %s %s %s failed",
            request_id,
            request.method,
            request.url.path,
            exc_info=exc,
            extra={"request_id": request_id},
        )
        message = f"internal error; quote request id {request_id} to the operator"
        return _answer(request, message, 500, headers={"X-Request-Id": request_id})

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeoutError)
    async def _database(request: Request, exc: Exception) -> Response:
        if not database_unavailable(exc):
            raise exc  # a bug after all: on to the 500 handler (``_unexpected``), as any other exception
        request_id = request_id_of(request.scope)
        # The driver's message names hosts, files and SQL: the log's, not the caller's.
        _log.warning(
            "request %s %s %s: database unavailable: %s",
            request_id,
            request.method,
            request.url.path,
            getattr(exc, "orig", None) or exc,
            extra={"request_id": request_id},
        )
        message = f"the database is unavailable just now; retry in a moment (request id {request_id})"
        # Unlike a 500's, this response passes back through the request middleware, which adds X-Request-Id.
        return _answer(request, message, 503, headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path only; a path served by several
            # routes (GET and POST /api/v1/jobs) must name them all (RFC 9110, 15.5.6).
            headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
        return _answer(request, str(exc.detail), exc.status_code, headers=headers)

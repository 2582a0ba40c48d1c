"""The one mapping from the error tree to HTTP, and the one JSON error body every API route returns:
``{"ok": false, "error": "...", "errors": [...], "status": N}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from groundswell.errors import (
    ConflictError,
    GroundswellError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RejectedInputError,
    UsageError,
)
from groundswell.web.auth import NotAuthenticatedError

__all__ = ["error_body", "install_error_handlers", "status_for"]


def status_for(exc: GroundswellError) -> int:
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


def error_body(message: str, status: int, errors: list[str] | None = None) -> dict[str, object]:
    return {"ok": False, "error": message, "errors": errors or [message], "status": status}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GroundswellError)
    async def _domain(request: Request, exc: GroundswellError) -> Response:
        status = status_for(exc)
        details = [str(p) for p in exc.problems] if isinstance(exc, RejectedInputError) else None
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(error_body(str(exc), status, details), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse(error_body(errors[0] if errors else "invalid request", 422, errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse(error_body(str(exc.detail), exc.status_code), status_code=exc.status_code)

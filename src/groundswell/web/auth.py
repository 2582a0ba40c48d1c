"""Who is calling: a bearer API key (admins, scripts) or a browser session cookie (annotators, admins who
signed in with their key). Cookie-authenticated requests that change anything must carry the session's
CSRF token, in the ``X-CSRF-Token`` header (JavaScript) or a ``csrf_token`` form field (HTML forms)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from groundswell.domain import WorkerKind
from groundswell.errors import PermissionDeniedError
from groundswell.jobs import worker_for_api_key, worker_for_session
from groundswell.store.tables import Worker

__all__ = ["SESSION_COOKIE", "Credentials", "Principal", "authenticate", "credentials"]

SESSION_COOKIE = "gs_session"


class NotAuthenticatedError(PermissionDeniedError):
    """No valid credentials at all (mapped to 401, unlike a signed-in caller lacking rights, 403)."""


@dataclass(frozen=True)
class Credentials:
    bearer: str | None
    session_token: str | None
    csrf_header: str | None
    method: str


@dataclass(frozen=True)
class Principal:
    worker: Worker
    csrf_token: str | None  # None for API-key callers

    @property
    def is_admin(self) -> bool:
        return self.worker.kind is WorkerKind.ADMIN


async def credentials(request: Request) -> Credentials:
    """The caller's credentials, read straight from the request: header and cookie parameters declared one by
    one would each be validated by FastAPI on every request, which cost more than the lookups themselves."""
    authorization = request.headers.get("authorization")
    bearer = None
    if authorization and authorization.lower().startswith("bearer "):
        bearer = authorization[7:].strip()
    return Credentials(
        bearer=bearer,
        session_token=request.cookies.get(SESSION_COOKIE),
        csrf_header=request.headers.get("x-csrf-token"),
        method=request.method,
    )


def authenticate(
    session: Session, creds: Credentials, *, admin: bool = False, csrf_form_token: str | None = None
) -> Principal:
    """Resolve the caller inside the request's transaction; refuse what they may not do."""
    principal: Principal | None = None
    if creds.bearer:
        worker = worker_for_api_key(session, creds.bearer)
        if worker is None:
            raise NotAuthenticatedError("invalid or revoked API key")
        principal = Principal(worker=worker, csrf_token=None)
    elif creds.session_token:
        signed_in = worker_for_session(session, creds.session_token)
        if signed_in is None:
            raise NotAuthenticatedError("your session has expired; open your invite link or sign in again")
        principal = Principal(worker=signed_in.worker, csrf_token=signed_in.csrf_token)
        if creds.method not in ("GET", "HEAD", "OPTIONS"):
            offered = creds.csrf_header or csrf_form_token or ""
            if not hmac.compare_digest(offered, principal.csrf_token or ""):
                raise PermissionDeniedError("missing or wrong CSRF token; reload the page")
    if principal is None:
        raise NotAuthenticatedError("sign in first: send 'Authorization: Bearer <API key>' or use your invite link")
    if admin and not principal.is_admin:
        raise PermissionDeniedError("this needs an admin")
    return principal

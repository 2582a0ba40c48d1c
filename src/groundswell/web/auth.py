"""Who is calling: a bearer API key (admins, scripts) or a browser session cookie (annotators, admins who
signed in with their key). Cookie-authenticated requests that change anything must carry the session's
CSRF token, in the ``X-CSRF-Token`` header (JavaScript) or a ``csrf_token`` form field (HTML forms).

A wrong API key counts against the caller's address and the key's prefix (:mod:`groundswell.web.throttle`);
a wrong or expired session cookie does not, since browsers keep sending expired ones in good faith and a
session token has no prefix to count by."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from groundswell.domain import WorkerKind
from groundswell.errors import PermissionDeniedError
from groundswell.jobs import api_key_holder, worker_for_session
from groundswell.jobs.throttle import Subject
from groundswell.store.tables import Worker
from groundswell.web.throttle import Throttle, client_address

__all__ = [
    "SESSION_COOKIE",
    "Credentials",
    "Principal",
    "RejectedCredentialsError",
    "authenticate",
    "credentials",
]

SESSION_COOKIE = "gs_session"
#: Methods that change nothing: all a read-only API key may use, and all a session may use without CSRF token.
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotAuthenticatedError(PermissionDeniedError):
    """No valid credentials at all (mapped to 401, unlike a signed-in caller lacking rights, 403)."""


class RejectedCredentialsError(NotAuthenticatedError):
    """Credentials were presented and are wrong. The failure is counted once the request's transaction has
    rolled back (by the error handler, :mod:`groundswell.web.errors`): a count written inside it would roll
    back with it."""

    def __init__(self, message: str, subjects: tuple[Subject, ...]) -> None:
        super().__init__(message)
        self.subjects = subjects


@dataclass(frozen=True)
class Credentials:
    bearer: str | None
    session_token: str | None
    csrf_header: str | None
    method: str
    address: str
    throttle: Throttle


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
        address=client_address(request),
        throttle=request.app.state.throttle,
    )


def authenticate(
    session: Session, creds: Credentials, *, admin: bool = False, csrf_form_token: str | None = None
) -> Principal:
    """Resolve the caller inside the request's transaction; refuse what they may not do."""
    principal: Principal | None = None
    if creds.bearer:
        subjects = creds.throttle.subjects(creds.address, creds.bearer)
        creds.throttle.check(session, subjects)
        holder = api_key_holder(session, creds.bearer)
        if holder is None:
            raise RejectedCredentialsError("invalid or revoked API key", subjects)
        if holder.read_only and creds.method not in _READS:
            raise PermissionDeniedError("this API key is read-only: it can read (GET), not change anything")
        principal = Principal(worker=holder.worker, csrf_token=None)
    elif creds.session_token:
        signed_in = worker_for_session(session, creds.session_token)
        if signed_in is None:
            raise NotAuthenticatedError("your session has expired; open your invite link or sign in again")
        principal = Principal(worker=signed_in.worker, csrf_token=signed_in.csrf_token)
        if creds.method not in _READS:
            offered = creds.csrf_header or csrf_form_token or ""
            if not hmac.compare_digest(offered, principal.csrf_token or ""):
                raise PermissionDeniedError("missing or wrong CSRF token; reload the page")
    if principal is None:
        raise NotAuthenticatedError("sign in first: send 'Authorization: Bearer <API key>' or use your invite link")
    if admin and not principal.is_admin:
        raise PermissionDeniedError("this needs an admin")
    return principal

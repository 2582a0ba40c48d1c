"""Typed dependencies shared by the routes, and :func:`caller`: the request's one transaction with the caller
authenticated in it.

``with caller(store, creds, admin=True) as call:`` is how a handler starts: it commits when the block ends,
before the handler returns, so an acknowledged change is stored and a failed commit is answered as an error.
Why a context manager in the handler and not a FastAPI dependency with ``yield``: on SQLite, transactions of
one process take turns through an in-process lock (:func:`groundswell.store.db.transaction`), which the async
hot-path handlers take on the event loop. A dependency holds its transaction from before the handler until
after it, across a hop through the event loop; a hot-path request waiting for the lock on the loop then
blocks that hop, and both wait forever (measured: ``tests/web/test_concurrency.py`` timed out). A ``with`` in a
synchronous handler takes and releases the lock on one worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from groundswell.errors import InvalidInputError
from groundswell.jobs.annotate.hot_path import HotPath
from groundswell.settings import Settings
from groundswell.store.db import transaction
from groundswell.web.auth import Credentials, Principal, authenticate, credentials
from groundswell.web.schemas import has_control_characters

__all__ = ["Call", "CredentialsDep", "HotPathDep", "SettingsDep", "StoreDep", "caller", "plain_path"]


async def plain_path(request: Request) -> None:
    """Refuse a path with a NUL or other control character (``/api/v1/jobs/a%00b``) before any handler or SQL
    sees it: PostgreSQL refuses NUL in text, and no name in the store contains one. Async, so it costs the hot
    path no thread hop."""
    if has_control_characters(request.scope["path"]):
        raise InvalidInputError("the path must not contain control characters (NUL, newlines, tabs, ...)")


async def _store(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.factory
    return factory


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _hot_path(request: Request) -> HotPath:
    hot_path: HotPath = request.app.state.hot_path
    return hot_path


StoreDep = Annotated[sessionmaker[Session], Depends(_store)]
SettingsDep = Annotated[Settings, Depends(_settings)]
CredentialsDep = Annotated[Credentials, Depends(credentials)]
HotPathDep = Annotated[HotPath, Depends(_hot_path)]


@dataclass(frozen=True)
class Call:
    """An authenticated request: who calls, and the session of its transaction."""

    session: Session
    principal: Principal


@contextmanager
def caller(
    store: sessionmaker[Session], creds: Credentials, *, admin: bool = False, csrf_form_token: str | None = None
) -> Iterator[Call]:
    """The request's transaction with its caller resolved (an HTML form passes its CSRF token)."""
    with transaction(store) as session:
        yield Call(session, authenticate(session, creds, admin=admin, csrf_form_token=csrf_form_token))

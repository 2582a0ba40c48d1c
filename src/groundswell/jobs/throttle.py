"""Failed sign-in attempts, counted per client address and per API-key prefix, in the database.

Why in the database and not in memory: several ``serve`` processes answer one address in turn, so a counter
per process would let a guesser multiply the limit by the number of processes. Each subject (an address, a
key prefix) is one row holding the failures of its current window: a failure is one upsert, a check is one
primary-key read, and only failures write, so successful callers never touch the table's rows.

The window is fixed and starts at the subject's first failure: after ``limit`` failures the subject waits
until that window ends, then gets ``limit`` more. Checking and recording are separate statements (recording
happens after the failed request's transaction has rolled back), so requests already past the check when
the limit is reached still count; the limit is exceeded by at most the requests in flight at that moment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from groundswell.store.tables import AuthFailure

__all__ = ["ADDRESS", "KEY_PREFIX", "Subject", "prune_failures", "record_failure", "retry_after"]

#: The scopes failures are counted in.
ADDRESS = "address"
KEY_PREFIX = "key-prefix"

_SUBJECT_LENGTH = 64


@dataclass(frozen=True)
class Subject:
    """What failures are counted against, and how many it may have in one window."""

    scope: str
    value: str
    limit: int

    @staticmethod
    def of(scope: str, value: str, limit: int) -> Subject:
        """A subject whose value is storable on every database: printable and bounded (PostgreSQL refuses
        NUL in text, and a login form can send anything)."""
        clean = "".join(c if c.isprintable() else "?" for c in value[:_SUBJECT_LENGTH])
        return Subject(scope, clean, limit)


def _matching(subjects: Sequence[Subject]) -> ColumnElement[bool]:
    return or_(*(and_(AuthFailure.scope == s.scope, AuthFailure.subject == s.value) for s in subjects))


def retry_after(session: Session, subjects: Sequence[Subject], *, now: datetime, window: timedelta) -> int | None:
    """Whole seconds until every subject over its limit may try again, or None when none is over it."""
    counted = [s for s in subjects if s.limit > 0]
    if not counted:
        return None
    limits = {(s.scope, s.value): s.limit for s in counted}
    rows = session.execute(
        select(AuthFailure.scope, AuthFailure.subject, AuthFailure.window_start, AuthFailure.failures).where(
            _matching(counted)
        )
    ).all()
    waits = [
        (window_start + window - now).total_seconds()
        for scope, subject, window_start, failures in rows
        if failures >= limits[(scope, subject)] and window_start + window > now
    ]
    return max(1, math.ceil(max(waits))) if waits else None


def record_failure(session: Session, subjects: Sequence[Subject], *, now: datetime, window: timedelta) -> None:
    """Count one failure against each subject: one upsert, which starts a new window where the old one ended."""
    counted = [s for s in subjects if s.limit > 0]
    if not counted:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(AuthFailure).values(
        [{"scope": s.scope, "subject": s.value, "window_start": now, "failures": 1} for s in counted]
    )
    ended = AuthFailure.window_start <= now - window
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[AuthFailure.scope, AuthFailure.subject],
            set_={
                "failures": case((ended, 1), else_=AuthFailure.failures + 1),
                "window_start": case((ended, statement.excluded.window_start), else_=AuthFailure.window_start),
            },
        )
    )


def prune_failures(session: Session, *, before: datetime) -> None:
    """Forget windows that started before ``before`` (they have ended, so they limit no one)."""
    session.execute(delete(AuthFailure).where(AuthFailure.window_start < before))

"""A signed-in annotator's answer and next task on PostgreSQL: one statement and one round trip per request.

Why: on a small machine under load, each request's own overhead (the transaction's BEGIN and COMMIT, the
sign-in read, the ORM session) cost more CPU than the routing itself, and a server process waits through
every round trip. Here a request is a single call of migration 0005's ``groundswell_submit_as`` or
``groundswell_next_task_as`` on a pooled connection in autocommit mode: the function signs the annotator
in by their browser session, checks the CSRF token and does the work, atomically, as one statement.

The functions take the common case only. Anything else ("fallback": another sign-in method, an expired
session, a retry, an error to report, a paused job, …) comes back with nothing done, and the caller runs the
general path (:func:`groundswell.jobs.submit_answer`, :func:`groundswell.jobs.next_task` inside a
transaction), which gives every answer and error its usual form. SQLite has no such functions: there the
general path is already in-process and cheap, and these helpers answer None at once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from groundswell.jobs.access import session_token_digest
from groundswell.jobs.routing import SubmitResult, Task, check_submit_input, continue_after_answer
from groundswell.store.driver import Sql
from groundswell.store.tables import utcnow

__all__ = ["next_task_signed_in", "submit_signed_in"]

_SUBMIT_AS = Sql("""
    SELECT * FROM groundswell_submit_as(CAST(:token_hash AS text), CAST(:csrf AS text), CAST(:lease_id AS bigint),
                                        CAST(:label AS text), CAST(:key AS text), CAST(:time_spent AS double precision),
                                        CAST(:now AS timestamptz), CAST(:next AS boolean), CAST(:exclude AS bigint[]))
""")
_NEXT_TASK_AS = Sql("""
    SELECT * FROM groundswell_next_task_as(CAST(:token_hash AS text), CAST(:csrf AS text), CAST(:job_key AS text),
                                           CAST(:now AS timestamptz), CAST(:exclude AS bigint[]))
""")


def _engine(factory: sessionmaker[Session]) -> Engine | None:
    bind = factory.kw.get("bind")
    return bind if isinstance(bind, Engine) and bind.dialect.name == "postgresql" else None


def _call(engine: Engine, statement: Sql, params: dict[str, Any]) -> tuple[Any, ...] | None:
    """Run one statement on a pooled connection in autocommit mode (it is its own transaction)."""
    pooled = engine.raw_connection()
    try:
        connection: Any = pooled.driver_connection
        connection.autocommit = True
        try:
            row: tuple[Any, ...] | None = connection.execute(statement.postgresql, params).fetchone()
        except connection.IntegrityError:
            return None  # e.g. an idempotency key two answers used at once: the general path tells them apart
        finally:
            connection.autocommit = False
        return row
    finally:
        pooled.close()


def _task(row: tuple[Any, ...], job_name: str, labels: list[str]) -> Task:
    """A ``Task`` from the functions' lease, item, external id, text, leased and expiry columns."""
    lease_id, item_id, external_id, text, leased_at, expires_at = row
    return Task(lease_id, job_name, item_id, external_id, text, list(labels), leased_at, expires_at)


def submit_signed_in(
    factory: sessionmaker[Session],
    session_token: str,
    csrf_token: str | None,
    lease_id: int,
    *,
    label: str,
    idempotency_key: str,
    time_spent_s: float | None = None,
    next_exclude: frozenset[int] | None = None,
    now: datetime | None = None,
) -> SubmitResult | None:
    """:func:`groundswell.jobs.submit_answer` for the annotator signed in with ``session_token``, in one
    statement; None when the general path must run (nothing was done)."""
    engine = _engine(factory)
    if engine is None:
        return None
    check_submit_input(idempotency_key, time_spent_s)
    now = now or utcnow()
    row = _call(
        engine,
        _SUBMIT_AS,
        {
            "token_hash": session_token_digest(session_token),
            "csrf": csrf_token,
            "lease_id": lease_id,
            "label": label,
            "key": idempotency_key,
            "time_spent": time_spent_s,
            "now": now,
            "next": next_exclude is not None,
            "exclude": sorted(next_exclude or ()),
        },
    )
    if row is None or row[1] == "fallback":
        return None
    worker_id, status, judgment_id, revision, job_id, job_name, item_id, labels, next_status = row[:9]
    result = SubmitResult(judgment_id, lease_id, job_id, job_name, item_id, label, revision, now)
    if status == "ok-last":  # stored; the job may be complete: the general path finishes up in a transaction
        return continue_after_answer(factory, worker_id, result, next_exclude, now, may_complete=True)
    if next_exclude is None:
        return result
    if next_status == "task":
        return replace(result, next=_task(row[9:], job_name, labels))
    return continue_after_answer(factory, worker_id, result, next_exclude, now, may_complete=False)


def next_task_signed_in(
    factory: sessionmaker[Session],
    session_token: str,
    csrf_token: str | None,
    job_name: str,
    *,
    exclude: frozenset[int] = frozenset(),
    now: datetime | None = None,
) -> Task | None:
    """:func:`groundswell.jobs.next_task` for the annotator signed in with ``session_token``, in one
    statement, when it leases or hands back a task; None when the general path must run (nothing was done)."""
    engine = _engine(factory)
    if engine is None:
        return None
    row = _call(
        engine,
        _NEXT_TASK_AS,
        {
            "token_hash": session_token_digest(session_token),
            "csrf": csrf_token,
            "job_key": job_name.lower(),
            "now": now or utcnow(),
            "exclude": sorted(exclude),
        },
    )
    if row is None or row[3] != "task":
        return None
    return _task(row[4:], row[1], row[2])

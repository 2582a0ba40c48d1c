"""Adding background work to the database's ``work`` table: the one way any layer queues a row.

It lives in ``store`` (not beside the runner that drains it) so that the use cases in ``jobs`` queue their
consolidations, auto-label rounds and reviews through it without importing the runner, which sits above
them. The runner (``groundswell.runner.queue``) claims, finishes and retries the rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from groundswell.domain import WorkState
from groundswell.store.tables import Work, utcnow

__all__ = ["enqueue", "is_pending"]


def is_pending(session: Session, kind: str, job_id: int | None, *, running_too: bool = False) -> bool:
    """Whether a row of ``kind`` for ``job_id`` waits in the queue (or, with ``running_too``, also runs)."""
    states = [WorkState.QUEUED, WorkState.RUNNING] if running_too else [WorkState.QUEUED]
    found = session.scalar(
        select(Work.id).where(Work.kind == kind, Work.job_id == job_id, Work.state.in_(states)).limit(1)
    )
    return found is not None


def enqueue(
    session: Session,
    kind: str,
    *,
    job_id: int | None = None,
    payload: dict[str, Any] | None = None,
    priority: int = 0,
    run_after: datetime | None = None,
    dedupe: bool = True,
) -> Work:
    """Add a row (or, with ``dedupe``, return the queued row of the same kind and job that already waits)."""
    if dedupe:
        waiting = session.scalars(
            select(Work)
            .where(Work.kind == kind, Work.job_id == job_id, Work.state == WorkState.QUEUED)
            .order_by(Work.id)
            .limit(1)
        ).one_or_none()
        if waiting is not None:
            return waiting
    work = Work(
        kind=kind,
        job_id=job_id,
        payload=dict(payload or {}),
        priority=priority,
        state=WorkState.QUEUED,
        run_after=run_after or utcnow(),
    )
    session.add(work)
    session.flush()
    return work

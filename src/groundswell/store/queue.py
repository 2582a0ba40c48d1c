"""Adding background work to the database's ``work`` table: the one way any layer queues a row.

It lives in ``store`` (not beside the runner that drains it) so that the use cases in ``jobs`` queue their
consolidations, auto-label rounds and reviews through it without importing the runner, which sits above
them. The runner (``groundswell.runner.queue``) claims, finishes and retries the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from groundswell.domain import WorkState
from groundswell.store.tables import Work, utcnow

__all__ = ["PendingWork", "StaleWork", "enqueue", "is_pending", "pending_work"]


class StaleWork(Exception):
    """Raised by a runner handler's write step when what it read changed too much for its results to apply:
    the runner queues the row again at once, to run on fresh data (``runner.staged``). Not a
    ``GroundswellError``: those are deliberate refusals, never retried."""


def is_pending(session: Session, kind: str, job_id: int | None, *, running_too: bool = False) -> bool:
    """Whether a row of ``kind`` for ``job_id`` waits in the queue (or, with ``running_too``, also runs)."""
    states = [WorkState.QUEUED, WorkState.RUNNING] if running_too else [WorkState.QUEUED]
    found = session.scalar(
        select(Work.id).where(Work.kind == kind, Work.job_id == job_id, Work.state.in_(states)).limit(1)
    )
    return found is not None


@dataclass(frozen=True)
class PendingWork:
    """Rows of one kind in one unfinished state, and the earliest ``run_after`` among them."""

    kind: str
    state: WorkState
    count: int
    earliest_run_after: datetime


def pending_work(session: Session) -> list[PendingWork]:
    """Queued and running rows by kind: the queue's depth and how late it runs, in one indexed query (the
    metrics scrape asks for it every few seconds, while finished rows pile up in the same table)."""
    rows = session.execute(
        select(Work.kind, Work.state, func.count(), func.min(Work.run_after))
        .where(Work.state.in_([WorkState.QUEUED, WorkState.RUNNING]))
        .group_by(Work.kind, Work.state)
        .order_by(Work.kind, Work.state)
    ).all()
    return [PendingWork(kind, WorkState(state), int(count), earliest) for kind, state, count, earliest in rows]


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


def get_work(session: Session, work_id: int) -> Work:
    """One row of the queue, or ``NotFoundError``."""
    from groundswell.errors import NotFoundError

    work = session.get(Work, work_id)
    if work is None:
        raise NotFoundError(f"no work {work_id}")
    return work

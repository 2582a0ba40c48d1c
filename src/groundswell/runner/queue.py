"""The background work queue, kept in the database's ``work`` table: no Redis, no Celery.

A row moves queued → running → done, or back to queued with its error and a later ``run_after`` when it
fails (up to :data:`MAX_ATTEMPTS` tries), then failed. Claiming is safe with many runners:

* PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` lets each runner take a different row without waiting.
* SQLite: transactions start with ``BEGIN IMMEDIATE`` (see ``store.db``), so one writer at a time selects
  and marks a row; a second runner simply claims after the first commits.

A runner that dies leaves its row ``running``; once its heartbeat is older than ``stale_after`` another
runner claims it again (the attempt counts). A live runner keeps its row's heartbeat fresh while it works
(:func:`heartbeat`, every quarter of ``stale_after``; ``runner.loop`` does it), so however long a round runs it
is not taken for abandoned, and ``stale_after`` can be short: while a row is ``running``, the scheduler queues
no other work of its kind for its job, so until a dead runner's row is taken over the job gets neither
consolidation nor automated labeling (with a claim-time-only heartbeat and 30 minutes, a crash stalled both
for half an hour; ``tests/faults/test_runner_kill.py``). That holds on SQLite too since handlers are staged
(``runner.staged``: no transaction is open while they compute, so other runners can claim meanwhile and the
heartbeat can beat); a plain handler there holds the write lock for its whole run and needs no heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from groundswell.domain import WorkState
from groundswell.store.queue import enqueue
from groundswell.store.tables import Work, utcnow

__all__ = [
    "MAX_ATTEMPTS",
    "STALE_AFTER",
    "WorkOutcome",
    "claim",
    "enqueue",
    "heartbeat",
    "heartbeat_every",
    "mark_done",
    "mark_failed",
]

#: Tries before a row stays failed; an error the package raises on purpose (bad input) is not retried.
MAX_ATTEMPTS = 3
#: A running row whose heartbeat is older than this is taken to belong to a dead runner. Every runner sharing a
#: database must use the same value (``groundswell runner --stale-after``): it also sets how often they beat.
STALE_AFTER = timedelta(minutes=2)
#: Wait before retry ``n`` is ``n`` times this.
RETRY_BACKOFF = timedelta(seconds=30)


@dataclass(frozen=True)
class WorkOutcome:
    """What happened to one claimed row."""

    work_id: int
    kind: str
    job_id: int | None
    state: WorkState
    result: dict[str, Any] | None = None
    error: str | None = None


def claim(
    session: Session,
    runner_id: str,
    *,
    kinds: frozenset[str] | None = None,
    now: datetime | None = None,
    stale_after: timedelta = STALE_AFTER,
) -> Work | None:
    """Take the most urgent due row for ``runner_id`` and mark it running; ``None`` when nothing is due.

    Commit the session right after, so other runners see the claim.
    """
    now = now or utcnow()
    due = or_(
        and_(Work.state == WorkState.QUEUED, Work.run_after <= now),
        and_(Work.state == WorkState.RUNNING, Work.heartbeat_at < now - stale_after),
    )
    query = select(Work).where(due)
    if kinds is not None:
        query = query.where(Work.kind.in_(sorted(kinds)))
    query = query.order_by(Work.priority.desc(), Work.run_after, Work.id).limit(1)
    work = session.scalars(query.with_for_update(skip_locked=True)).one_or_none()
    if work is None:
        return None
    work.state = WorkState.RUNNING
    work.claimed_by = runner_id[:200]
    work.claimed_at = now
    work.heartbeat_at = now
    work.attempts += 1
    session.flush()
    return work


def heartbeat_every(stale_after: timedelta) -> float:
    """Seconds between heartbeats of a running row: four chances to beat before it would look abandoned."""
    return stale_after.total_seconds() / 4


def heartbeat(session: Session, work_id: int, runner_id: str, *, now: datetime | None = None) -> bool:
    """Refresh the heartbeat of a row ``runner_id`` holds; False when it no longer holds it (finished, or
    taken over after all)."""
    result = session.execute(
        update(Work)
        .where(Work.id == work_id, Work.state == WorkState.RUNNING, Work.claimed_by == runner_id[:200])
        .values(heartbeat_at=now or utcnow())
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def mark_done(session: Session, work: Work, result: dict[str, Any] | None, *, now: datetime | None = None) -> None:
    work.state = WorkState.DONE
    work.result = result
    work.error = None
    work.finished_at = now or utcnow()


def mark_failed(session: Session, work_id: int, error: str, *, retry: bool, now: datetime | None = None) -> WorkState:
    """Record a failure: back to queued with a backoff while tries remain (and ``retry``), else failed."""
    now = now or utcnow()
    work = session.get(Work, work_id, with_for_update=True)
    if work is None:  # deleted with its job meanwhile
        return WorkState.FAILED
    work.error = error[:10_000]
    if retry and work.attempts < MAX_ATTEMPTS:
        work.state = WorkState.QUEUED
        work.run_after = now + RETRY_BACKOFF * work.attempts
    else:
        work.state = WorkState.FAILED
        work.finished_at = now
    return work.state

"""Taking something back: an annotator skips a task they hold, or undoes their last answer.

Both change an item's routing counters, so both lock its ``job_items`` row first, as submit does
(:mod:`groundswell.jobs.annotate.routing` has the invariant they keep).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from groundswell.domain import JobState, LeaseState
from groundswell.errors import ConflictError, NotFoundError
from groundswell.jobs.annotate import routing_sql as sql
from groundswell.jobs.annotate.routing import Task
from groundswell.jobs.lifecycle import get_job, job_labels
from groundswell.store.driver import Driver
from groundswell.store.tables import (
    ADJUDICATED,
    ConsolidatedLabel,
    Item,
    JobItem,
    Judgment,
    TaskLease,
    Worker,
    utcnow,
)

__all__ = ["decline_task", "undo_last_answer"]


def _lock_job_item(session: Session, job_id: int, item_id: int) -> JobItem:
    query = select(JobItem).where(JobItem.job_id == job_id, JobItem.item_id == item_id).with_for_update()
    row = session.scalars(query.execution_options(populate_existing=True)).one()
    return row


def _adjudicated(session: Session, job_id: int, item_id: int) -> bool:
    label = session.scalar(
        select(ConsolidatedLabel.method).where(ConsolidatedLabel.job_id == job_id, ConsolidatedLabel.item_id == item_id)
    )
    return label == ADJUDICATED


def decline_task(session: Session, worker: Worker, lease_id: int, *, now: datetime | None = None) -> None:
    """Skip a held task: its slot goes back to the pool and the worker is not offered the item again."""
    now = now or utcnow()
    session.flush()
    db = Driver(session)
    locked = sql.lock_item_of_lease(db, lease_id)
    if locked is None or locked[1] != worker.id:
        raise NotFoundError(f"no task {lease_id} held by you")
    counts = locked[0]
    state_row = db.one(sql.LEASE_STATE, {"lease_id": lease_id})
    assert state_row is not None
    state = LeaseState(state_row[0])
    if state is LeaseState.SUBMITTED:
        raise ConflictError("this task is already answered; undo it first to skip it")
    if state is LeaseState.ACTIVE:
        counts.leases_active -= 1
        db.run(*sql.counts_write(counts))
    db.run(sql.CLOSE_LEASE, {"lease_id": lease_id, "state": LeaseState.DECLINED.value, "closed_at": db.time(now)})


def undo_last_answer(session: Session, job_name: str, worker: Worker, *, now: datetime | None = None) -> Task:
    """Withdraw the worker's most recent answer in the job while its time limit still runs, and hand the
    task back to them so they can answer again (appends a withdrawal; nothing is deleted)."""
    now = now or utcnow()
    job = get_job(session, job_name)
    last = session.scalars(
        select(Judgment)
        .where(Judgment.job_id == job.id, Judgment.worker_id == worker.id)
        .order_by(Judgment.id.desc())
        .limit(1)
    ).one_or_none()
    if last is None or last.label is None or last.lease_id is None:
        raise ConflictError("there is no answer to undo")
    # Fresh from the database: the hot path above changes leases with Core statements, past the identity map.
    lease = session.get(TaskLease, last.lease_id, populate_existing=True)
    assert lease is not None
    if lease.expires_at <= now:
        raise ConflictError("too late to undo: the time limit for that tweet has passed")
    if job.state is JobState.STOPPED:
        raise ConflictError(f"job {job.name} is stopped")
    row = _lock_job_item(session, job.id, last.item_id)
    session.add(
        Judgment(
            job_id=job.id,
            item_id=last.item_id,
            worker_id=worker.id,
            lease_id=lease.id,
            label=None,
            revision=last.revision + 1,
            idempotency_key=f"undo:{last.id}",
            submitted_at=now,
        )
    )
    lease.state = LeaseState.ACTIVE
    lease.closed_at = None
    row.judgments_accepted -= 1
    row.leases_active += 1
    # An item whose label an admin corrected stays final (jobs.adjudication): the worker may answer again,
    # but the item is not reopened to anyone else, and a completed job stays completed.
    if not _adjudicated(session, job.id, last.item_id):
        row.is_done = False
        if job.state is JobState.COMPLETED:
            job.state, job.finished_at = JobState.RUNNING, None
    session.flush()
    item = session.get(Item, last.item_id)
    assert item is not None  # foreign key
    return Task(
        lease_id=lease.id,
        job=job.name,
        item_id=item.id,
        external_id=item.external_id,
        text=item.text,
        labels=job_labels(session, job),
        leased_at=lease.leased_at,
        expires_at=lease.expires_at,
        previous_label=last.label,
    )

"""Task routing: who labels what next, and what happens to an answer.

The invariant: an item never holds more accepted judgments plus live leases than it wants, and a worker
never answers an item twice. Every change to an item's counters happens with its ``job_items`` row locked
(``FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time), and a CHECK constraint on that row refuses
anything that would over-assign, so a bug here fails loudly instead of over-labelling.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, false, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from groundswell.domain import JobState, LeaseState
from groundswell.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from groundswell.jobs.access import may_work_on
from groundswell.jobs.lifecycle import availability_ends, get_job, job_labels, maybe_complete
from groundswell.store.tables import Item, Job, JobItem, Judgment, TaskLease, Worker, utcnow

__all__ = [
    "MAX_HELD_LEASES",
    "NoTask",
    "SubmitResult",
    "Task",
    "decline_task",
    "expire_stale_leases",
    "next_task",
    "submit_answer",
    "undo_last_answer",
]

#: The task on screen, one prefetched (so the next tweet shows the instant a key is pressed) and one whose
#: answer is still on its way to the server.
MAX_HELD_LEASES = 3
_HOLDS_A_SLOT_OR_DONE = (LeaseState.ACTIVE, LeaseState.SUBMITTED, LeaseState.DECLINED)


@dataclass(frozen=True)
class Task:
    lease_id: int
    job: str
    item_id: int
    external_id: str
    text: str
    labels: list[str]
    leased_at: datetime
    expires_at: datetime
    previous_label: str | None = None


@dataclass(frozen=True)
class NoTask:
    reason: str


@dataclass(frozen=True)
class SubmitResult:
    judgment_id: int
    lease_id: int
    job_id: int
    item_id: int
    label: str
    revision: int
    submitted_at: datetime
    replayed: bool = False


def _task(session: Session, job: Job, lease: TaskLease, previous: str | None = None) -> Task:
    item = session.get(Item, lease.item_id)
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
        previous_label=previous,
    )


def _lock_job_item(session: Session, job_id: int, item_id: int) -> JobItem:
    query = select(JobItem).where(JobItem.job_id == job_id, JobItem.item_id == item_id).with_for_update()
    row = session.scalars(query.execution_options(populate_existing=True)).one()
    return row


def expire_stale_leases(session: Session, job_id: int, now: datetime) -> int:
    """Free the slots of leases whose time limit has passed; returns how many.

    Locks the items' rows first and skips rows another request holds (it will sweep them itself), so the
    lock order is always item row → lease, as in submit and decline: no deadlocks between processes.
    """
    stale = (
        select(TaskLease.item_id)
        .where(TaskLease.job_id == job_id, TaskLease.state == LeaseState.ACTIVE, TaskLease.expires_at < now)
        .scalar_subquery()
    )
    items = session.scalars(
        select(JobItem.item_id)
        .where(JobItem.job_id == job_id, JobItem.item_id.in_(stale))
        .with_for_update(skip_locked=True)
    ).all()
    if not items:
        return 0
    expired = session.scalars(
        update(TaskLease)
        .where(
            TaskLease.job_id == job_id,
            TaskLease.item_id.in_(items),
            TaskLease.state == LeaseState.ACTIVE,
            TaskLease.expires_at < now,
        )
        .values(state=LeaseState.EXPIRED, closed_at=now)
        .returning(TaskLease.item_id)
    ).all()
    for item_id, count in sorted(Counter(expired).items()):
        session.execute(
            update(JobItem)
            .where(JobItem.job_id == job_id, JobItem.item_id == item_id)
            .values(leases_active=JobItem.leases_active - count)
        )
    return len(expired)


def next_task(
    session: Session,
    job_name: str,
    worker: Worker,
    *,
    exclude: frozenset[int] = frozenset(),
    now: datetime | None = None,
) -> Task | NoTask:
    """The worker's next task: a lease they already hold (other than ``exclude``), else a new one.

    Items already started are finished before fresh ones; among fresh items the higher ``priority`` wins.
    """
    now = now or utcnow()
    job = get_job(session, job_name)
    if not may_work_on(session, worker, job):
        raise PermissionDeniedError(f"you are not on a team that works on job {job.name!r}")
    if job.state is not JobState.RUNNING:
        return NoTask(f"job {job.name} is {job.state.value}")
    ends = availability_ends(job)
    if ends is not None and now >= ends:
        return NoTask(f"job {job.name} is past its task availability ({job.task_availability_s} s after start)")
    expire_stale_leases(session, job.id, now)
    held = session.scalars(
        select(TaskLease)
        .where(TaskLease.job_id == job.id, TaskLease.worker_id == worker.id, TaskLease.state == LeaseState.ACTIVE)
        .order_by(TaskLease.leased_at, TaskLease.id)
    ).all()
    for lease in held:
        if lease.id not in exclude:
            return _task(session, job, lease)
    if len(held) >= MAX_HELD_LEASES:
        return NoTask("finish the tasks you already hold first")
    item_id = _pick_item(session, job, worker)
    if item_id is None:
        return NoTask("no work left for you in this job")
    lease = TaskLease(
        job_id=job.id,
        item_id=item_id,
        worker_id=worker.id,
        state=LeaseState.ACTIVE,
        leased_at=now,
        expires_at=now + timedelta(seconds=job.task_time_limit_s),
    )
    session.add(lease)
    session.execute(
        update(JobItem)
        .where(JobItem.job_id == job.id, JobItem.item_id == item_id)
        .values(leases_active=JobItem.leases_active + 1, started=True)
    )
    session.flush()
    return _task(session, job, lease)


def _pick_item(session: Session, job: Job, worker: Worker) -> int | None:
    mine = exists().where(
        TaskLease.job_id == job.id,
        TaskLease.worker_id == worker.id,
        TaskLease.item_id == JobItem.item_id,
        TaskLease.state.in_(_HOLDS_A_SLOT_OR_DONE),
    )
    query = select(JobItem.item_id).where(
        JobItem.job_id == job.id,
        JobItem.is_done == false(),  # an equality, so the routing index applies
        JobItem.judgments_accepted + JobItem.leases_active < JobItem.judgments_wanted,
        ~mine,
    )
    if job.max_concurrent_tasks is not None:
        in_flight = session.scalar(
            select(func.count()).where(JobItem.job_id == job.id, JobItem.is_done == false(), JobItem.started)
        )
        if (in_flight or 0) >= job.max_concurrent_tasks:
            query = query.where(JobItem.started == true())
    query = query.order_by(JobItem.started.desc(), JobItem.priority.desc(), JobItem.item_id).limit(1)
    return session.scalar(query.with_for_update(skip_locked=True))


def submit_answer(
    session: Session,
    worker: Worker,
    lease_id: int,
    *,
    label: str,
    idempotency_key: str,
    time_spent_s: float | None = None,
    now: datetime | None = None,
) -> SubmitResult:
    """Record the worker's answer for a task they hold. A retry with the same key returns the first result.

    An answer after the time limit is accepted only while the item still has a free slot.
    """
    now = now or utcnow()
    if not idempotency_key or len(idempotency_key) > 128:
        raise InvalidInputError("idempotency_key must be 1–128 characters")
    if time_spent_s is not None and not 0 <= time_spent_s <= 7 * 24 * 3600:
        raise InvalidInputError("time_spent_s must be between 0 and a week")
    lease = session.get(TaskLease, lease_id)
    if lease is None or lease.worker_id != worker.id:
        raise NotFoundError(f"no task {lease_id} held by you")
    row = _lock_job_item(session, lease.job_id, lease.item_id)
    session.refresh(lease, with_for_update=True)  # its state as of now, with the item's row locked
    if lease.state is LeaseState.SUBMITTED:
        # Only an answered lease can have a stored answer to replay (a retry, or a concurrent duplicate).
        replay = _replay(session, lease, worker, idempotency_key)
        if replay is not None:
            return replay
        raise ConflictError("you already answered this task; undo it to change the answer")
    job = session.get(Job, lease.job_id)
    assert job is not None
    if job.state not in (JobState.RUNNING, JobState.PAUSED):
        raise ConflictError(f"job {job.name} is {job.state.value}; answers are no longer accepted")
    labels = job_labels(session, job)
    if label not in labels:
        raise InvalidInputError(f"label {label!r} is not one of this job's labels: {', '.join(labels)}")
    if lease.state is LeaseState.DECLINED:
        raise ConflictError("you skipped this task, so it is no longer yours")
    if lease.state is LeaseState.ACTIVE:
        row.leases_active -= 1  # the lease's reserved slot becomes the judgment's
    elif row.judgments_accepted + row.leases_active >= row.judgments_wanted:
        raise ConflictError(
            "the time limit for this task passed and the tweet has since received all the answers it needs; "
            "your answer was not recorded"
        )
    revision = session.scalar(
        select(func.max(Judgment.revision)).where(
            Judgment.job_id == lease.job_id, Judgment.item_id == lease.item_id, Judgment.worker_id == worker.id
        )
    )
    judgment = Judgment(
        job_id=lease.job_id,
        item_id=lease.item_id,
        worker_id=worker.id,
        lease_id=lease.id,
        label=label,
        revision=0 if revision is None else revision + 1,
        idempotency_key=idempotency_key,
        time_spent_s=time_spent_s,
        accepted_at=lease.leased_at,
        submitted_at=now,
    )
    session.add(judgment)
    lease.state = LeaseState.SUBMITTED
    lease.closed_at = now
    row.judgments_accepted += 1
    row.is_done = row.judgments_accepted >= row.judgments_wanted
    try:
        session.flush()
    except IntegrityError as exc:  # the key was already used for another task of this worker in this job
        raise ConflictError("this idempotency key was already used for a different answer") from exc
    # Imported here: consolidation builds on this module (effective_judgments_query).
    from groundswell.jobs.consolidation import after_answer, request_consolidation

    after_answer(session, job, row)  # per-submit majority vote; dynamic redundancy may ask for one more answer
    if row.is_done and maybe_complete(session, job):
        request_consolidation(session, job)  # the full model at job end
    return _result(judgment)


def _result(judgment: Judgment, *, replayed: bool = False) -> SubmitResult:
    assert judgment.label is not None and judgment.lease_id is not None
    return SubmitResult(
        judgment_id=judgment.id,
        lease_id=judgment.lease_id,
        job_id=judgment.job_id,
        item_id=judgment.item_id,
        label=judgment.label,
        revision=judgment.revision,
        submitted_at=judgment.submitted_at,
        replayed=replayed,
    )


def _replay(session: Session, lease: TaskLease, worker: Worker, key: str) -> SubmitResult | None:
    earlier = session.scalars(
        select(Judgment).where(
            Judgment.job_id == lease.job_id, Judgment.worker_id == worker.id, Judgment.idempotency_key == key
        )
    ).one_or_none()
    if earlier is None:
        return None
    if earlier.lease_id != lease.id or earlier.label is None:
        raise ConflictError("this idempotency key was already used for a different answer")
    return _result(earlier, replayed=True)


def decline_task(session: Session, worker: Worker, lease_id: int, *, now: datetime | None = None) -> None:
    """Skip a held task: its slot goes back to the pool and the worker is not offered the item again."""
    now = now or utcnow()
    lease = session.get(TaskLease, lease_id)
    if lease is None or lease.worker_id != worker.id:
        raise NotFoundError(f"no task {lease_id} held by you")
    row = _lock_job_item(session, lease.job_id, lease.item_id)
    session.refresh(lease, with_for_update=True)
    if lease.state is LeaseState.SUBMITTED:
        raise ConflictError("this task is already answered; undo it first to skip it")
    if lease.state is LeaseState.ACTIVE:
        row.leases_active -= 1
    lease.state = LeaseState.DECLINED
    lease.closed_at = now


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
    lease = session.get(TaskLease, last.lease_id)
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
    row.is_done = False
    if job.state is JobState.COMPLETED:
        job.state, job.finished_at = JobState.RUNNING, None
    session.flush()
    return _task(session, job, lease, previous=last.label)


def effective_judgments_query(job_id: int):  # type: ignore[no-untyped-def]
    """Each worker's current answer per item: their latest revision, when it is not a withdrawal."""
    latest = (
        select(Judgment.item_id, Judgment.worker_id, func.max(Judgment.revision).label("revision"))
        .where(Judgment.job_id == job_id)
        .group_by(Judgment.item_id, Judgment.worker_id)
        .subquery()
    )
    return (
        select(Judgment)
        .join(
            latest,
            and_(
                Judgment.item_id == latest.c.item_id,
                Judgment.worker_id == latest.c.worker_id,
                Judgment.revision == latest.c.revision,
            ),
        )
        .where(Judgment.job_id == job_id, Judgment.label.is_not(None))
    )

"""Task routing: who labels what next, and what happens to an answer.

The invariant: an item never holds more accepted judgments plus live leases than it wants, and a worker
never answers an item twice. Every change to an item's counters happens with its ``job_items`` row locked
(``FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time), and a CHECK constraint on that row refuses
anything that would over-assign, so a bug here fails loudly instead of over-labelling.

On PostgreSQL the common case of an answer and of a next task runs as one statement, in server-side
functions generated from this module's statements (:mod:`groundswell.jobs.annotate.pg_functions`;
:mod:`groundswell.jobs.annotate.hot_path` calls them straight from the web layer); they
answer "fallback" for anything else, having done nothing, and the code here runs instead. This code is the
reference for every rule: the tests run it on SQLite and the functions on PostgreSQL, against the same
expectations. Skipping and undoing are in :mod:`groundswell.jobs.annotate.take_back`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from groundswell.domain import JobState, LeaseState, WorkerKind
from groundswell.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from groundswell.jobs.annotate import routing_sql as sql
from groundswell.jobs.annotate.answer_vote import after_answer
from groundswell.jobs.annotate.routing_sql import JobRow
from groundswell.jobs.consolidation import request_consolidation
from groundswell.jobs.lifecycle import availability_ends, maybe_complete
from groundswell.store.db import transaction
from groundswell.store.driver import Driver, Sql
from groundswell.store.tables import JobItem, Judgment, TaskLease, Worker, utcnow

__all__ = [
    "MAX_HELD_LEASES",
    "NoTask",
    "SubmitResult",
    "Task",
    "check_submit_input",
    "continue_after_answer",
    "expire_stale_leases",
    "next_task",
    "submit_answer",
    "task_from_row",
]

MAX_HELD_LEASES = sql.MAX_HELD_LEASES


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
    job: str
    item_id: int
    label: str
    revision: int
    submitted_at: datetime
    replayed: bool = False
    #: The worker's next task, when the submit asked for it (one round trip per answer).
    next: Task | NoTask | None = None


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


def _job(db: Driver, worker: Worker, *, name: str | None = None, job_id: int | None = None) -> JobRow:
    job = sql.job_from_row(db, db.one(*sql.job_query(worker_id=worker.id, name=name, job_id=job_id)))
    if job is None:
        assert name is not None  # a lease's job is there: foreign key
        raise NotFoundError(f"no job named {name!r}")
    return job


def next_task(
    session: Session,
    job_name: str,
    worker: Worker,
    *,
    exclude: frozenset[int] = frozenset(),
    now: datetime | None = None,
    functions: bool = True,
) -> Task | NoTask:
    """The worker's next task: a lease they already hold (other than ``exclude``), else a new one.

    Items already started are finished before fresh ones; among fresh items the higher ``priority`` wins.
    ``functions=False``: skip PostgreSQL's one-statement function and run the general path at once, for a
    caller whose hot path (:mod:`groundswell.jobs.annotate.hot_path`) already tried it and fell back, so that no
    request runs a function twice.
    """
    session.flush()  # the statements below bypass the ORM, so nothing pending may stay unwritten
    db = Driver(session)
    job = _job(db, worker, name=job_name)
    return _next_task(session, db, job, worker, exclude, now or utcnow(), use_function=functions)


def _next_reads(db: Driver, job_id: int, worker: Worker, now: datetime) -> tuple[Sql, dict[str, Any]]:
    """The read next-task starts with (any stale lease in the job; the worker's held leases), so a caller can
    send it with its own statements."""
    return sql.NEXT_READS, {"job_id": job_id, "worker_id": worker.id, "now": db.time(now)}


def _next_task(
    session: Session,
    db: Driver,
    job: JobRow,
    worker: Worker,
    exclude: frozenset[int],
    now: datetime,
    reads: list[tuple[Any, ...]] | None = None,
    *,
    use_function: bool = True,
) -> Task | NoTask:
    """Next task for ``job``; ``reads`` are :func:`_next_reads`' rows when the caller already ran it;
    ``use_function=False`` when PostgreSQL's function already answered "fallback" for this request."""
    if job.restricted and not job.member and worker.kind is not WorkerKind.ADMIN:
        raise PermissionDeniedError(f"you are not on a team that works on job {job.name!r}")
    if job.state is not JobState.RUNNING:
        return NoTask(f"job {job.name} is {job.state.value}")
    ends = availability_ends(job.started_at, job.task_availability_s)
    if ends is not None and now >= ends:
        return NoTask(f"job {job.name} is past its task availability ({job.task_availability_s} s after start)")
    params = {"job_id": job.id, "worker_id": worker.id}
    if not db.is_sqlite and reads is None and use_function:
        task = _next_task_function(db, job, worker, exclude, now)
        if task is not None:
            return task
    stale, held = sql.held_leases(reads if reads is not None else db.all(*_next_reads(db, job.id, worker, now)))
    if stale:
        expire_stale_leases(session, job.id, now)
        _, held = sql.held_leases(db.all(*_next_reads(db, job.id, worker, now)))
    for lease_id, item_id, leased_at, expires_at, external_id, text in held:
        if lease_id not in exclude:
            leased, expires = db.read_time(leased_at), db.read_time(expires_at)
            assert leased is not None and expires is not None
            return Task(lease_id, job.name, item_id, external_id, text, list(job.labels), leased, expires)
    if len(held) >= MAX_HELD_LEASES:
        return NoTask("finish the tasks you already hold first")
    pick = sql.PICK_ITEM
    if job.max_concurrent_tasks is not None:
        in_flight = db.one(sql.IN_FLIGHT_ITEMS, params)
        if in_flight is not None and in_flight[0] >= job.max_concurrent_tasks:
            pick = sql.PICK_STARTED_ITEM
    expires = now + timedelta(seconds=job.task_time_limit_s)
    new = sql.pick_and_lease(db, pick, {**params, "leased_at": db.time(now), "expires_at": db.time(expires)})
    if new is None:
        return NoTask("no work left for you in this job")
    lease_id, item_id, external_id, text = new
    return Task(lease_id, job.name, item_id, external_id, text, list(job.labels), now, expires)


def _next_task_function(db: Driver, job: JobRow, worker: Worker, exclude: frozenset[int], now: datetime) -> Task | None:
    """PostgreSQL: the next task through ``groundswell_next_task`` (one statement), or None for the general path."""
    row = db.one(
        sql.NEXT_TASK_FUNCTION,
        {"worker_id": worker.id, "job_id": job.id, "now": db.time(now), "exclude": sorted(exclude)},
    )
    if row is None or row[0] != "task":
        return None
    return task_from_row(row[1:], job.name, job.labels)


def task_from_row(row: Sequence[Any], job_name: str, labels: Sequence[str]) -> Task:
    """A ``Task`` from the PostgreSQL functions' lease, item, external id, text, leased and expiry columns."""
    lease_id, item_id, external_id, text, leased_at, expires_at = row
    return Task(
        lease_id,
        job_name,
        item_id,
        external_id,
        text,
        list(labels),
        leased_at.astimezone(UTC),
        expires_at.astimezone(UTC),
    )


def check_submit_input(idempotency_key: str, time_spent_s: float | None) -> None:
    """Refuse an answer's malformed fields before anything is read or written."""
    if not idempotency_key or len(idempotency_key) > 128:
        raise InvalidInputError("idempotency_key must be 1–128 characters")
    if time_spent_s is not None and not 0 <= time_spent_s <= 7 * 24 * 3600:
        raise InvalidInputError("time_spent_s must be between 0 and a week")


def submit_answer(
    session: Session,
    worker: Worker,
    lease_id: int,
    *,
    label: str,
    idempotency_key: str,
    time_spent_s: float | None = None,
    now: datetime | None = None,
    next_exclude: frozenset[int] | None = None,
    functions: bool = True,
) -> SubmitResult:
    """Record the worker's answer for a task they hold. A retry with the same key returns the first result.

    An answer after the time limit is accepted only while the item still has a free slot. With
    ``next_exclude``, the result also carries the worker's next task (``next``), as :func:`next_task` gives it.
    ``functions=False`` runs the general path at once (see :func:`next_task`).
    """
    now = now or utcnow()
    check_submit_input(idempotency_key, time_spent_s)
    session.flush()
    db = Driver(session)
    if not db.is_sqlite and functions:
        fast = _submit_function(session, db, worker, lease_id, label, idempotency_key, time_spent_s, now, next_exclude)
        if fast is not None:
            return fast
    locked, state_row, job_row, answer_rows = sql.submit_reads(db, lease_id, worker.id)
    if locked is None or locked[1] != worker.id:
        raise NotFoundError(f"no task {lease_id} held by you")
    counts = locked[0]
    state, leased_at, last_revision = LeaseState(state_row[0]), state_row[1], state_row[2]
    job = sql.job_from_row(db, job_row)
    assert job is not None  # a lease's job is there: foreign key
    if state is LeaseState.SUBMITTED:
        # Only an answered lease can have a stored answer to replay (a retry, or a concurrent duplicate).
        replay = _replay(session, lease_id, job, worker, idempotency_key)
        if replay is None:
            raise ConflictError("you already answered this task; undo it to change the answer")
        return _with_next(session, db, replay, worker, next_exclude, now, use_function=functions)
    if job.state not in (JobState.RUNNING, JobState.PAUSED):
        raise ConflictError(f"job {job.name} is {job.state.value}; answers are no longer accepted")
    if label not in job.labels:
        raise InvalidInputError(f"label {label!r} is not one of this job's labels: {', '.join(job.labels)}")
    if state is LeaseState.DECLINED:
        raise ConflictError("you skipped this task, so it is no longer yours")
    if state is LeaseState.ACTIVE:
        counts.leases_active -= 1  # the lease's reserved slot becomes the judgment's
    elif counts.judgments_accepted + counts.leases_active >= counts.judgments_wanted:
        raise ConflictError(
            "the time limit for this task passed and the tweet has since received all the answers it needs; "
            "your answer was not recorded"
        )
    revision = 0 if last_revision is None else last_revision + 1
    item = {"job_id": counts.job_id, "item_id": counts.item_id}
    judgment = {
        **item,
        "worker_id": worker.id,
        "lease_id": lease_id,
        "label": label,
        "revision": revision,
        "idempotency_key": idempotency_key,
        "time_spent_s": time_spent_s,
        "accepted_at": leased_at,  # as stored
        "submitted_at": db.time(now),
    }
    closed = {"lease_id": lease_id, "state": LeaseState.SUBMITTED.value, "closed_at": db.time(now)}
    counts.judgments_accepted += 1
    counts.is_done = counts.judgments_accepted >= counts.judgments_wanted
    # The new answer is this worker's latest revision: after their earlier ones, in LEASE_ITEM_ANSWERS' order.
    answers = sorted([*answer_rows, (worker.id, label)], key=lambda row: row[0])
    # The answer, the lease closed and the per-submit majority vote (dynamic redundancy may ask for one more
    # answer) as one statement; then the counters, whether the job has anything left, and next-task's first
    # read: one round trip. The counters come after the vote, in a statement of their own: the label feed's
    # triggers (migration 0009) run at the end of a statement and see all of its changes, so an item marked
    # done in the statement that changes its label would get two events (the label's change on a done item,
    # and a labelled item becoming done) where it should get one.
    writes = [
        (sql.INSERT_JUDGMENT, judgment),
        (sql.CLOSE_LEASE, closed),
        *after_answer(db, job, counts, answers),
    ]
    then = [sql.counts_write(counts)]
    if counts.is_done:
        then.append((sql.ANY_OPEN_ITEM, {"job_id": job.id}))
    if next_exclude is not None:
        then.append(_next_reads(db, job.id, worker, now))
    try:
        inserted, (_counted, *results) = db.writes(*writes, then=then)
    except IntegrityError as exc:
        if not _is_idempotency_clash(exc):
            raise
        raise ConflictError("this idempotency key was already used for a different answer") from exc
    completed = counts.is_done and not results[0] and maybe_complete(session, job)
    if completed:
        request_consolidation(session, job)  # the full model at job end
    result = SubmitResult(inserted[0][0], lease_id, job.id, job.name, counts.item_id, label, revision, now)
    if next_exclude is None:
        return result
    if completed:
        return _with_next(session, db, result, worker, next_exclude, now, use_function=functions)
    return replace(result, next=_next_task(session, db, job, worker, next_exclude, now, results[-1]))


def _submit_function(
    session: Session,
    db: Driver,
    worker: Worker,
    lease_id: int,
    label: str,
    key: str,
    time_spent_s: float | None,
    now: datetime,
    next_exclude: frozenset[int] | None,
) -> SubmitResult | None:
    """PostgreSQL: the common case of :func:`submit_answer` in one statement (``groundswell_submit``, which
    also takes the next task when asked); None when the general path must run (the function changed nothing).

    An idempotency key used concurrently by two answers fails the function's insert; the general path then
    tells a retry from a clash.
    """
    params = {
        "worker_id": worker.id,
        "lease_id": lease_id,
        "label": label,
        "key": key,
        "time_spent": time_spent_s,
        "now": db.time(now),
        "next": next_exclude is not None,
        "exclude": sorted(next_exclude or ()),
    }
    try:
        row = db.one(sql.SUBMIT_FUNCTION, params)
    except IntegrityError as exc:
        if not _is_idempotency_clash(exc):
            raise
        raise ConflictError("this idempotency key was already used for a different answer") from exc
    assert row is not None
    parsed = submitted_from_row(row, lease_id, label, now)
    if parsed is None:
        return None
    status, result, task = parsed
    if status == "ok-last":  # the item just done was the job's last open one
        job = _job(db, worker, job_id=result.job_id)
        if maybe_complete(session, job):
            request_consolidation(session, job)  # the full model at job end
        return _with_next(session, db, result, worker, next_exclude, now, use_function=False)
    if next_exclude is None:
        return result
    if task is not None:
        return replace(result, next=task)
    return _with_next(session, db, result, worker, next_exclude, now, use_function=False)


def submitted_from_row(
    row: Sequence[Any], lease_id: int, label: str, now: datetime
) -> tuple[str, SubmitResult, Task | None] | None:
    """``groundswell_submit``'s row as its status (``ok`` or ``ok-last``), the stored answer's result and the
    next task it leased (None: none asked for, or the general path must take it); None for ``fallback``."""
    status, judgment_id, revision, job_id, job_name, item_id, labels, next_status = row[:8]
    if status == "fallback":
        return None
    result = SubmitResult(judgment_id, lease_id, job_id, job_name, item_id, label, revision, now)
    task = task_from_row(row[8:], job_name, labels) if next_status == "task" else None
    return status, result, task


def _is_idempotency_clash(exc: IntegrityError) -> bool:
    """Whether the key was already used for another task of this worker in this job (and not some other
    constraint: those are bugs, and must surface as such)."""
    return "uq_judgments_idempotency" in str(exc.orig) or "judgments.idempotency_key" in str(exc.orig)


def _with_next(
    session: Session,
    db: Driver,
    result: SubmitResult,
    worker: Worker,
    exclude: frozenset[int] | None,
    now: datetime,
    *,
    use_function: bool,
) -> SubmitResult:
    """The result with the worker's next task added, when asked for (the job read afresh). ``use_function``
    is false after a PostgreSQL submit function that already tried the next task and fell back on it."""
    if exclude is None:
        return result
    job = _job(db, worker, job_id=result.job_id)
    return replace(result, next=_next_task(session, db, job, worker, exclude, now, use_function=use_function))


def continue_after_answer(
    factory: sessionmaker[Session],
    worker_id: int,
    result: SubmitResult,
    next_exclude: frozenset[int] | None,
    now: datetime,
    *,
    may_complete: bool,
) -> SubmitResult:
    """In a transaction of its own, what follows an answer stored on its own (``jobs.hot_path``): complete
    the job when it has nothing left (queueing its consolidation), then add the next task when asked."""

    with transaction(factory) as session:
        worker = session.get(Worker, worker_id)
        assert worker is not None  # the answer's worker: a foreign key
        db = Driver(session)
        if may_complete:
            job = _job(db, worker, job_id=result.job_id)
            if maybe_complete(session, job):
                request_consolidation(session, job)  # the full model at job end
        # The one-statement submit already tried the next task (and fell back on it, or completed the job).
        return _with_next(session, db, result, worker, next_exclude, now, use_function=False)


def _result(judgment: Judgment, job_name: str, *, replayed: bool = False) -> SubmitResult:
    assert judgment.label is not None and judgment.lease_id is not None
    return SubmitResult(
        judgment_id=judgment.id,
        lease_id=judgment.lease_id,
        job_id=judgment.job_id,
        job=job_name,
        item_id=judgment.item_id,
        label=judgment.label,
        revision=judgment.revision,
        submitted_at=judgment.submitted_at,
        replayed=replayed,
    )


def _replay(session: Session, lease_id: int, job: JobRow, worker: Worker, key: str) -> SubmitResult | None:
    earlier = session.scalars(
        select(Judgment).where(
            Judgment.job_id == job.id, Judgment.worker_id == worker.id, Judgment.idempotency_key == key
        )
    ).one_or_none()
    if earlier is None:
        return None
    if earlier.lease_id != lease_id or earlier.label is None:
        raise ConflictError("this idempotency key was already used for a different answer")
    return _result(earlier, job.name, replayed=True)

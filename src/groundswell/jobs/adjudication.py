"""An admin's correction of a job item's label (an *adjudication*): final, kept with its history, and exported
as such (``"adjudicated": "yes"`` in the output manifest's metadata, method ``adjudicated`` in CSV/Parquet).

Why the label itself stays in ``consolidated_labels`` (method :data:`~groundswell.store.tables.ADJUDICATED`,
confidence 1.0): every reader (the label browser, the feed and webhooks, exports, training) then sees the
corrected label with no change, and a database trigger (migration 0010) keeps every other writer from
replacing it: the per-submit vote, in Python and in PostgreSQL's functions, full consolidation, machine
labels. Deletes are guarded where they are issued (the undo of a vote, consolidation's clean-up), and
``label_adjudications`` keeps who changed what, from what, and why.

A corrected item is final: if it was still open, it is closed (its answers wanted cut to those it has, any
lease on it ended, so an answer still on its way is refused), and nothing reopens it (dynamic redundancy and
an annotator's undo leave it done). The label is written before the item is closed, so the label feed's
triggers (migration 0009) see one change: one event per correction that changes the final label.

A revert restores the label from before the first correction since the last revert (or none; a machine label
comes back without its model version, which the history does not keep), and queues a consolidation so the
people's answers speak again; an item the correction closed before it had the job's minimum of answers is
opened again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from groundswell.domain import JobState, LeaseState, WorkerKind
from groundswell.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from groundswell.jobs.answers import effective_judgments_query
from groundswell.jobs.autolabel_write import AUTO_LABEL_METHOD
from groundswell.jobs.consolidation import request_consolidation
from groundswell.jobs.label_browser import agreement
from groundswell.jobs.lifecycle import job_labels, maybe_complete
from groundswell.store.tables import (
    ADJUDICATED,
    ConsolidatedLabel,
    Item,
    Job,
    JobItem,
    Judgment,
    LabelAdjudication,
    LabelEvent,
    TaskLease,
    Worker,
    utcnow,
)

__all__ = [
    "CLI_ADMIN_NAME",
    "MAX_NOTE_CHARS",
    "AdjudicationView",
    "AnswerView",
    "LabelDetail",
    "ModelVote",
    "cli_admin",
    "correct_label",
    "label_detail",
    "revert_correction",
]

MAX_NOTE_CHARS = 2000
#: The admin the command line records as having made a correction when it is not told who (``--by``).
CLI_ADMIN_NAME = "command line"


@dataclass(frozen=True)
class AnswerView:
    """One worker's current answer to the item."""

    worker_id: int
    worker: str
    label: str
    submitted_at: datetime
    time_spent_s: float | None


@dataclass(frozen=True)
class ModelVote:
    """The automated-labeling model's vote stored on the job item (``jobs.autolabel``)."""

    label: str
    class_index: int
    confidence: float | None
    #: Every label's calibrated probability, when the round stored them.
    proba: dict[str, float] | None


@dataclass(frozen=True)
class AdjudicationView:
    """One correction (``label``) or revert (``label`` None), and what the item's label was before it."""

    id: int
    worker_id: int
    worker: str
    label: str | None
    previous_label: str | None
    previous_method: str | None
    previous_confidence: float | None
    note: str | None
    created_at: datetime


@dataclass(frozen=True)
class LabelDetail:
    """Everything a reviewer weighs for one item: its label, the answers, the model's vote, past corrections."""

    item: Item
    #: The job's labels in class order (what a correction may choose).
    labels: list[str]
    label: ConsolidatedLabel | None
    agreement: float | None
    answers: list[AnswerView]
    model_vote: ModelVote | None
    #: Newest first.
    history: list[AdjudicationView]

    @property
    def adjudicated(self) -> bool:
        return self.label is not None and self.label.method == ADJUDICATED


def _job_item(session: Session, job: Job, external_id: str, *, lock: bool = False) -> tuple[Item, JobItem]:
    """The job's non-gold item with this external id and its routing row (locked with ``lock``)."""
    query = (
        select(Item, JobItem)
        .join(JobItem, (JobItem.item_id == Item.id) & (JobItem.job_id == job.id))
        .where(Item.dataset_id == job.dataset_id, Item.external_id == external_id)
        # The hot path changes job items with Core statements, past the identity map.
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update(of=JobItem)
    found = session.execute(query).one_or_none()
    if found is None or found[1].is_gold:
        # Gold items test workers and never have a label (jobs.gold): there is nothing of theirs to correct.
        raise NotFoundError(f"job {job.name!r} has no item {external_id!r}")
    return found[0], found[1]


def _current_label(session: Session, job: Job, item: Item) -> ConsolidatedLabel | None:
    return session.get(ConsolidatedLabel, (job.id, item.id), populate_existing=True)


def _answer_count(session: Session, job: Job, item: Item) -> int:
    answers = effective_judgments_query(job.id, item_ids=[item.id]).with_only_columns(Judgment.id).subquery()
    return int(session.scalar(select(func.count()).select_from(answers)) or 0)


def _check_admin(by: Worker) -> None:
    if by.kind is not WorkerKind.ADMIN:
        raise PermissionDeniedError("only an admin may correct a label")


def _history_row(
    job: Job, item: Item, by: Worker, label: str | None, before: ConsolidatedLabel | None, note: str | None
) -> LabelAdjudication:
    return LabelAdjudication(
        job_id=job.id,
        item_id=item.id,
        worker_id=by.id,
        label=label,
        previous_label=None if before is None else before.label,
        previous_method=None if before is None else before.method,
        previous_confidence=None if before is None else before.confidence,
        note=note,
    )


def _clean_note(note: str | None) -> str | None:
    if note is None or not note.strip():
        return None
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInputError(f"a note is at most {MAX_NOTE_CHARS} characters, got {len(note)}")
    return note.strip()


def correct_label(
    session: Session, job: Job, external_id: str, label: str, *, by: Worker, note: str | None = None
) -> ConsolidatedLabel:
    """Set the item's label to ``label`` as an admin's correction, final from now on; returns the label row.

    Raises:
        NotFoundError: The job has no such item, or it is a gold item.
        InvalidInputError: ``label`` is not one of the job's labels (the message lists them), or the note is
            too long.
        PermissionDeniedError: ``by`` is not an admin.
    """
    _check_admin(by)
    note = _clean_note(note)
    item, row = _job_item(session, job, external_id, lock=True)
    labels = job_labels(session, job)
    if label not in labels:
        raise InvalidInputError(f"label {label!r} is not one of the labels of job {job.name!r}: {', '.join(labels)}")
    now = utcnow()
    current = _current_label(session, job, item)
    session.add(_history_row(job, item, by, label, current, note))
    values = {
        "label": label,
        "class_index": labels.index(label),
        "confidence": 1.0,
        "method": ADJUDICATED,
        "human_annotated": True,
        "judgment_count": _answer_count(session, job, item),
        "model_version_id": None,
        "updated_at": now,
    }
    if current is None:
        current = ConsolidatedLabel(job_id=job.id, item_id=item.id, **values)
        session.add(current)
    else:
        for name, value in values.items():
            setattr(current, name, value)
    session.flush()  # the label first, then the item closed: the feed's triggers see one change
    if not row.is_done:
        _close(session, job, row, now)
    return current


def _close(session: Session, job: Job, row: JobItem, now: datetime) -> None:
    """Make a corrected open item final: no lease on it any more, no answer wanted beyond those it has."""
    session.execute(
        update(TaskLease)
        .where(TaskLease.job_id == job.id, TaskLease.item_id == row.item_id, TaskLease.state == LeaseState.ACTIVE)
        .values(state=LeaseState.EXPIRED, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    row.leases_active = 0
    row.judgments_wanted = row.judgments_accepted
    row.is_done = True
    session.flush()
    if maybe_complete(session, job):
        request_consolidation(session, job)  # the full model at job end, as when the last answer completes it


def revert_correction(session: Session, job: Job, external_id: str, *, by: Worker) -> ConsolidatedLabel | None:
    """Undo the item's corrections since the last revert: its label goes back to what it was before the first of
    them (``None``: it had none, and has none again), and a consolidation is queued.

    Raises:
        NotFoundError: The job has no such item, or it is a gold item.
        ConflictError: The item's label is not a correction: there is nothing to revert.
        PermissionDeniedError: ``by`` is not an admin.
    """
    _check_admin(by)
    item, row = _job_item(session, job, external_id, lock=True)
    current = _current_label(session, job, item)
    if current is None or current.method != ADJUDICATED:
        raise ConflictError(f"item {external_id!r} of job {job.name!r} has no correction to revert")
    first = _first_of_run(session, job, item)
    labels = job_labels(session, job)
    restored = first.previous_label if first is not None and first.previous_label in labels else None
    session.add(_history_row(job, item, by, None, current, None))
    machine = first is not None and first.previous_method == AUTO_LABEL_METHOD
    if not machine and row.judgments_accepted < job.workers_per_item:
        _reopen(session, job, row)  # before the label is restored: an open item's label is no feed event
    last_event = session.scalar(select(func.max(LabelEvent.id)))
    was = current.label
    # The guard of migration 0010 skips any update that turns an adjudicated row into another kind, and deletes
    # are not guarded: the row goes, and the restored one is a new row.
    session.delete(current)
    session.flush()
    back = None
    if restored is not None and first is not None:
        back = ConsolidatedLabel(
            job_id=job.id,
            item_id=item.id,
            label=restored,
            class_index=labels.index(restored),
            confidence=first.previous_confidence if first.previous_confidence is not None else 0.0,
            method=first.previous_method or "mv",
            human_annotated=not machine,
            judgment_count=_answer_count(session, job, item),
            model_version_id=None,
            updated_at=utcnow(),
        )
        session.add(back)
    session.flush()
    if back is not None and back.label == was:
        # The same label back is no change to a reader of the feed: drop the event the new row made.
        session.execute(
            delete(LabelEvent).where(
                LabelEvent.id > (last_event or 0),
                LabelEvent.seq.is_(None),
                LabelEvent.job_id == job.id,
                LabelEvent.item_id == item.id,
            )
        )
    request_consolidation(session, job)
    return back


def _first_of_run(session: Session, job: Job, item: Item) -> LabelAdjudication | None:
    """The earliest correction since the item's last revert: it holds the label from before the corrections."""
    history = session.scalars(
        select(LabelAdjudication)
        .where(LabelAdjudication.job_id == job.id, LabelAdjudication.item_id == item.id)
        .order_by(LabelAdjudication.id)
    ).all()
    first: LabelAdjudication | None = None
    for entry in history:
        if entry.label is None:
            first = None
        elif first is None:
            first = entry
    return first


def _reopen(session: Session, job: Job, row: JobItem) -> None:
    """Open an item again for the job's minimum of answers (what a correction of an open item cut short)."""
    row.judgments_wanted = max(row.judgments_wanted, job.workers_per_item, row.judgments_accepted + row.leases_active)
    row.is_done = row.judgments_accepted >= row.judgments_wanted
    if not row.is_done and job.state is JobState.COMPLETED:
        job.state, job.finished_at = JobState.RUNNING, None
    session.flush()


def label_detail(session: Session, job: Job, external_id: str) -> LabelDetail:
    """The item's label, its current answers in the order given, the model's vote and its corrections.

    Raises:
        NotFoundError: The job has no such item, or it is a gold item.
    """
    item, row = _job_item(session, job, external_id)
    labels = job_labels(session, job)
    label = _current_label(session, job, item)
    answered = session.execute(
        effective_judgments_query(job.id, item_ids=[item.id])
        .add_columns(Worker.display_name)
        .join(Worker, Worker.id == Judgment.worker_id)
        .order_by(Judgment.submitted_at, Judgment.id)
    ).all()
    answers = [AnswerView(j.worker_id, name, str(j.label), j.submitted_at, j.time_spent_s) for j, name in answered]
    counts: dict[str, int] = {}
    for answer in answers:
        counts[answer.label] = counts.get(answer.label, 0) + 1
    history = [
        AdjudicationView(
            h.id,
            h.worker_id,
            name,
            h.label,
            h.previous_label,
            h.previous_method,
            h.previous_confidence,
            h.note,
            h.created_at,
        )
        for h, name in session.execute(
            select(LabelAdjudication, Worker.display_name)
            .join(Worker, Worker.id == LabelAdjudication.worker_id)
            .where(LabelAdjudication.job_id == job.id, LabelAdjudication.item_id == item.id)
            .order_by(LabelAdjudication.id.desc())
        )
    ]
    return LabelDetail(
        item=item,
        labels=labels,
        label=label,
        agreement=None if label is None else agreement(counts, label.label),
        answers=answers,
        model_vote=_model_vote(row, labels),
        history=history,
    )


def _model_vote(row: JobItem, labels: list[str]) -> ModelVote | None:
    if row.model_label is None or not 0 <= row.model_label < len(labels):
        return None
    proba = None
    if row.model_proba is not None and len(row.model_proba) == len(labels):
        proba = {name: float(p) for name, p in zip(labels, row.model_proba, strict=True)}
    return ModelVote(labels[row.model_label], row.model_label, row.model_confidence, proba)


def cli_admin(session: Session, email: str | None = None) -> Worker:
    """Who the command line records as making a correction: the admin with ``email``, else the store's own
    command-line admin (made on first use; it has no email and no key, so nobody can sign in as it)."""
    if email is not None:
        named = session.scalars(select(Worker).where(Worker.email == email.strip().lower())).one_or_none()
        if named is None or named.kind is not WorkerKind.ADMIN:
            raise NotFoundError(f"no admin with email {email!r} (groundswell admin create makes one)")
        return named
    local = session.scalars(
        select(Worker)
        .where(Worker.kind == WorkerKind.ADMIN, Worker.email.is_(None), Worker.display_name == CLI_ADMIN_NAME)
        .order_by(Worker.id)
        .limit(1)
    ).one_or_none()
    if local is None:
        local = Worker(email=None, display_name=CLI_ADMIN_NAME, kind=WorkerKind.ADMIN)
        session.add(local)
        session.flush()
    return local

"""Read-side lookups with the visibility rules built in: annotators see only their own answers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from groundswell.domain import JobState
from groundswell.errors import NotFoundError
from groundswell.jobs.answers import effective_judgments_query
from groundswell.jobs.people import may_work_on
from groundswell.store.tables import Dataset, Item, Job, JobTeam, Judgment, Team, Worker

__all__ = ["dataset_name", "job_team_names", "jobs_for_worker", "my_judgments", "visible_judgment"]


def job_team_names(session: Session, job: Job) -> list[str]:
    query = select(Team.name).join(JobTeam, JobTeam.team_id == Team.id).where(JobTeam.job_id == job.id)
    return sorted(session.scalars(query))


def dataset_name(session: Session, job: Job) -> str:
    return session.scalar(select(Dataset.name).where(Dataset.id == job.dataset_id)) or ""


def jobs_for_worker(session: Session, worker: Worker) -> list[Job]:
    """Running or paused jobs this worker may label, oldest first."""
    query = select(Job).where(Job.state.in_([JobState.RUNNING, JobState.PAUSED])).order_by(Job.created_at, Job.id)
    return [job for job in session.scalars(query) if may_work_on(session, worker, job)]


def visible_judgment(
    session: Session, worker: Worker, judgment_id: int, *, is_admin: bool
) -> tuple[Judgment, Job, str]:
    """A judgment by id, with its job and its item's external id; another annotator's judgment is reported as
    absent (404), never as forbidden."""
    row = session.execute(
        select(Judgment, Job, Item.external_id)
        .join(Job, Job.id == Judgment.job_id)
        .join(Item, Item.id == Judgment.item_id)
        .where(Judgment.id == judgment_id)
    ).first()
    if row is None or (not is_admin and row[0].worker_id != worker.id):
        raise NotFoundError(f"no judgment {judgment_id}")
    return row[0], row[1], row[2]


def my_judgments(session: Session, job: Job, worker: Worker, *, limit: int = 100) -> list[tuple[Judgment, str]]:
    """The worker's current answers in a job, newest first, each with its item's external id."""
    query = (
        effective_judgments_query(job.id)
        .add_columns(Item.external_id)
        .join(Item, Item.id == Judgment.item_id)
        .where(Judgment.worker_id == worker.id)
        .order_by(Judgment.submitted_at.desc(), Judgment.id.desc())
        .limit(limit)
    )
    return [(judgment, external_id) for judgment, external_id in session.execute(query)]

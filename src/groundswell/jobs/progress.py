"""What the admin pages and `job show` report: item progress, judgments, and each annotator's pace."""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from groundswell.domain import LeaseState
from groundswell.jobs.answers import effective_judgments_query
from groundswell.store.tables import Job, JobItem, Judgment, TaskLease, Worker, utcnow

__all__ = ["AnnotatorStats", "JobProgress", "annotator_stats", "job_progress"]

#: Someone who answered or held a task this recently counts as an active annotator.
ACTIVE_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class JobProgress:
    items: int
    done: int
    in_progress: int
    open: int
    judgments: int
    judgments_wanted: int
    active_leases: int
    active_annotators: int

    @property
    def percent_done(self) -> float:
        return 100.0 * self.done / self.items if self.items else 0.0


@dataclass(frozen=True)
class AnnotatorStats:
    worker_id: int
    name: str
    judgments: int
    median_seconds: float | None
    per_hour: float | None
    last_answer: datetime | None


def job_progress(session: Session, job: Job, *, now: datetime | None = None) -> JobProgress:
    now = now or utcnow()
    counts = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((JobItem.is_done, 1), else_=0)), 0),
            func.coalesce(func.sum(case((JobItem.started & ~JobItem.is_done, 1), else_=0)), 0),
            func.coalesce(func.sum(JobItem.judgments_accepted), 0),
            func.coalesce(func.sum(JobItem.judgments_wanted), 0),
            func.coalesce(func.sum(JobItem.leases_active), 0),
        ).where(JobItem.job_id == job.id)
    ).one()
    items, done, in_progress, judgments, wanted, leases = (int(v) for v in counts)
    since = now - ACTIVE_WINDOW
    answering = select(Judgment.worker_id).where(Judgment.job_id == job.id, Judgment.submitted_at >= since)
    holding = select(TaskLease.worker_id).where(
        TaskLease.job_id == job.id, TaskLease.state == LeaseState.ACTIVE, TaskLease.expires_at >= now
    )
    active = session.scalar(select(func.count()).select_from(answering.union(holding).subquery())) or 0
    return JobProgress(
        items=items,
        done=done,
        in_progress=in_progress,
        open=items - done - in_progress,
        judgments=judgments,
        judgments_wanted=wanted,
        active_leases=leases,
        active_annotators=int(active),
    )


def annotator_stats(session: Session, job: Job, *, worker_id: int | None = None) -> list[AnnotatorStats]:
    """Per annotator: current answers, median seconds per tweet, and answers per hour of active work.

    Pace counts only gaps under ten minutes between consecutive answers, so a lunch break does not make
    someone look slow.
    """
    query = effective_judgments_query(job.id)
    if worker_id is not None:
        query = query.where(Judgment.worker_id == worker_id)
    by_worker: dict[int, list[Judgment]] = {}
    for judgment in session.scalars(query.order_by(Judgment.worker_id, Judgment.submitted_at)):
        by_worker.setdefault(judgment.worker_id, []).append(judgment)
    names: dict[int, str] = {}
    if by_worker:
        query_names = select(Worker.id, Worker.display_name).where(Worker.id.in_(list(by_worker)))
        names = {row[0]: row[1] for row in session.execute(query_names)}
    result = []
    for wid, rows in by_worker.items():
        spent = [r.time_spent_s for r in rows if r.time_spent_s is not None]
        gaps = [
            (b.submitted_at - a.submitted_at).total_seconds()
            for a, b in itertools.pairwise(rows)
            if (b.submitted_at - a.submitted_at) < timedelta(minutes=10)
        ]
        working = sum(gaps) + (statistics.median(spent) if spent else 0.0)
        result.append(
            AnnotatorStats(
                worker_id=wid,
                name=names.get(wid, str(wid)),
                judgments=len(rows),
                median_seconds=statistics.median(spent) if spent else None,
                per_hour=3600.0 * len(rows) / working if working > 0 else None,
                last_answer=rows[-1].submitted_at,
            )
        )
    return sorted(result, key=lambda s: (-s.judgments, s.name))

"""The cost curve's history: the job's estimated accuracy against the human answers spent, kept as it goes.

:func:`groundswell.jobs.quality.job_quality` says where a job stands now; how it got there (did the last
thousand answers buy any accuracy?) cannot be replayed afterwards, since consolidations and rounds overwrite
the labels and confidences the estimate rests on. So every writer of a job's labels as a whole (a full
consolidation, an automated-labeling round) records a ``quality_snapshots`` row once it wrote them
(:func:`record_quality_snapshot`), and the cost chart (``jobs.charts``) reads those rows.

A snapshot is only written when something it counts moved (answers spent, tweets labeled, machine labels):
a runner refitting an idle job every minute would otherwise write the same point over and over. Those
three counts are read first, in one cheap query each; the estimate itself is only computed for a new point.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from groundswell.jobs.answers import human_judgment_count
from groundswell.jobs.quality import job_quality
from groundswell.store.tables import ConsolidatedLabel, Job, QualitySnapshot, utcnow

__all__ = ["latest_snapshot", "record_quality_snapshot"]


def latest_snapshot(session: Session, job: Job) -> QualitySnapshot | None:
    """The job's most recent point, or ``None`` before its first."""
    return session.scalars(
        select(QualitySnapshot)
        .where(QualitySnapshot.job_id == job.id)
        .order_by(QualitySnapshot.created_at.desc(), QualitySnapshot.id.desc())
        .limit(1)
    ).first()


def record_quality_snapshot(session: Session, job: Job, *, now: datetime | None = None) -> QualitySnapshot | None:
    """Store the job's current cost-curve point, unless it has no label yet or nothing counted changed since
    its last point (module docstring); returns the new row, or ``None`` when none was written.

    Gold tweets never carry a consolidated label, so the labels counted are the job's labeled non-gold tweets.
    """
    labeled, machine = session.execute(
        select(func.count(), func.count().filter(ConsolidatedLabel.human_annotated.is_(False))).where(
            ConsolidatedLabel.job_id == job.id
        )
    ).one()
    labeled, machine = int(labeled or 0), int(machine or 0)
    if labeled == 0:
        return None
    spent = human_judgment_count(session, job)
    last = latest_snapshot(session, job)
    if last is not None and (last.answers_spent, last.items_labeled, last.machine_labeled) == (spent, labeled, machine):
        return None
    estimate = job_quality(session, job).estimate
    snapshot = QualitySnapshot(
        job_id=job.id,
        answers_spent=spent,
        items_labeled=labeled,
        machine_labeled=machine,
        estimated_accuracy=None if estimate is None else estimate.accuracy,
        accuracy_low=None if estimate is None else estimate.low,
        accuracy_high=None if estimate is None else estimate.high,
        created_at=now or utcnow(),
    )
    session.add(snapshot)
    session.flush()
    return snapshot

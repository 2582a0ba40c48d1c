"""What the admin page shows about a job's quality: agreement between workers and the per-worker skill table.

Agreement comes from the judgments themselves (before any consolidation); skills and confidences from the
last consolidation (:mod:`groundswell.jobs.consolidation`). Figures that are undefined (no task with two
judgments, say) are ``None`` rather than NaN, so they serialise to JSON as ``null``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from groundswell.consolidate import fleiss_kappa, krippendorff_alpha, per_label_agreement, percent_agreement
from groundswell.jobs.answers import judgments_frame
from groundswell.jobs.job_settings import consolidation_settings
from groundswell.jobs.lifecycle import job_labels
from groundswell.store.tables import ConsolidatedLabel, Job, Worker, WorkerSkill

__all__ = ["AgreementSummary", "LabelAgreement", "WorkerSkillRow", "agreement_summary", "worker_skills"]


@dataclass(frozen=True)
class WorkerSkillRow:
    worker_id: int
    name: str
    method: str
    accuracy: float
    gold_accuracy: float | None
    judgments: int
    confusion: list[list[float]] | None
    updated_at: datetime


@dataclass(frozen=True)
class LabelAgreement:
    label: str
    share: float | None
    specific_agreement: float | None
    fleiss_kappa: float | None
    krippendorff_alpha: float | None


@dataclass(frozen=True)
class AgreementSummary:
    """The agreement figures for a job's admin page; ``None`` where a figure is undefined (e.g. no overlap)."""

    judgments: int
    items_judged: int
    items_with_overlap: int
    workers: int
    krippendorff_alpha: float | None
    fleiss_kappa: float | None
    percent_agreement: float | None
    per_label: list[LabelAgreement] = field(default_factory=list)
    items_labeled: int = 0
    mean_confidence: float | None = None
    below_threshold: int = 0
    methods: dict[str, int] = field(default_factory=dict)


def worker_skills(session: Session, job: Job) -> list[WorkerSkillRow]:
    """The job's per-worker skill table from the last full consolidation, most active workers first."""
    rows = session.execute(
        select(WorkerSkill, Worker.display_name)
        .join(Worker, Worker.id == WorkerSkill.worker_id)
        .where(WorkerSkill.job_id == job.id)
        .order_by(WorkerSkill.judgment_count.desc(), WorkerSkill.worker_id)
    )
    return [
        WorkerSkillRow(
            worker_id=skill.worker_id,
            name=name,
            method=skill.method,
            accuracy=skill.accuracy,
            gold_accuracy=skill.gold_accuracy,
            judgments=skill.judgment_count,
            confusion=skill.confusion,
            updated_at=skill.updated_at,
        )
        for skill, name in rows
    ]


def _figure(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def agreement_summary(session: Session, job: Job) -> AgreementSummary:
    """Inter-annotator agreement over the job's current judgments, plus how confident its labels are.

    Agreement is computed from judgments (gold items included: agreement describes the workers), the
    label figures from the stored consolidated labels (gold items never have one).
    """
    labels = job_labels(session, job)
    frame = judgments_frame(session, job)
    label_stats = session.execute(
        select(ConsolidatedLabel.method, func.count(), func.avg(ConsolidatedLabel.confidence))
        .where(ConsolidatedLabel.job_id == job.id)
        .group_by(ConsolidatedLabel.method)
    ).all()
    threshold = consolidation_settings(job.settings).threshold
    below = session.scalar(
        select(func.count()).where(ConsolidatedLabel.job_id == job.id, ConsolidatedLabel.confidence < threshold)
    )
    labeled = sum(int(count) for _, count, _ in label_stats)
    mean = sum(float(avg) * int(count) for _, count, avg in label_stats) / labeled if labeled else None
    methods = {str(method): int(count) for method, count, _ in label_stats}
    if frame.empty:
        return AgreementSummary(0, 0, 0, 0, None, None, None, [], labeled, mean, int(below or 0), methods)
    per_task = frame.groupby("task").size()
    table = per_label_agreement(frame, labels)
    return AgreementSummary(
        judgments=len(frame),
        items_judged=len(per_task),
        items_with_overlap=int((per_task >= 2).sum()),
        workers=int(frame["worker"].nunique()),
        krippendorff_alpha=_figure(krippendorff_alpha(frame, labels)),
        fleiss_kappa=_figure(fleiss_kappa(frame, labels)),
        percent_agreement=_figure(percent_agreement(frame, labels)),
        per_label=[
            LabelAgreement(
                label=str(label),
                share=_figure(row["share"]),
                specific_agreement=_figure(row["specific_agreement"]),
                fleiss_kappa=_figure(row["fleiss_kappa"]),
                krippendorff_alpha=_figure(row["krippendorff_alpha"]),
            )
            for label, row in table.iterrows()
        ],
        items_labeled=labeled,
        mean_confidence=mean,
        below_threshold=int(below or 0),
        methods=methods,
    )

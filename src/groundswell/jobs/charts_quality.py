"""The console's charts about label quality and what it cost: agreement per label, automated-labeling rounds,
and the cost curve (see :mod:`groundswell.jobs.charts` for what a chart is)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from groundswell.active import AutoLabelSettings
from groundswell.jobs.autolabel import autolabel_rounds
from groundswell.jobs.charts_base import ChartData, iso, non_gold_items, number
from groundswell.jobs.quality import job_quality
from groundswell.jobs.worker_agreement import agreement_summary
from groundswell.store.tables import Job, QualitySnapshot, utcnow

__all__ = ["agreement", "cost", "rounds"]


def _target(job: Job) -> float | None:
    """The job's accuracy target, as :func:`groundswell.jobs.quality.job_quality` reads it."""
    settings = AutoLabelSettings.from_mapping(job.settings)
    return settings.accuracy_target if settings.enabled else None


def agreement(session: Session, job: Job, *, now: datetime | None = None) -> ChartData:
    """Agreement between annotators on each label (``jobs.worker_agreement``): the labels people confuse show
    low specific agreement. Computed from the answers, gold tweets included (it describes the people), over
    the tweets answered at least twice (a lone answer agrees with nobody), shares included."""
    summary = agreement_summary(session, job)
    rows = [
        [
            row.label,
            number(row.share),
            number(row.specific_agreement),
            number(row.fleiss_kappa),
            number(row.krippendorff_alpha),
        ]
        for row in summary.per_label
    ]
    meta = {
        "judgments": summary.judgments,
        "items_with_overlap": summary.items_with_overlap,
        "workers": summary.workers,
        "krippendorff_alpha": number(summary.krippendorff_alpha),
        "fleiss_kappa": number(summary.fleiss_kappa),
        "percent_agreement": number(summary.percent_agreement),
    }
    columns = ["label", "share_of_answers", "specific_agreement", "fleiss_kappa", "krippendorff_alpha"]
    return ChartData.of("agreement", columns, rows, meta)


def rounds(session: Session, job: Job, *, now: datetime | None = None) -> ChartData:
    """The job's automated-labeling rounds, oldest first. A round machine-labels only tweets nobody labeled
    before, so ``machine_labeled`` is that round's own and ``cumulative_coverage`` adds up the rounds so far;
    both coverages are over the job's non-gold tweets."""
    items = non_gold_items(session, job)
    rows, total = [], 0
    for view in autolabel_rounds(session, job):
        total += view.items_machine_labeled
        rows.append(
            [
                view.round_number,
                view.human_labels_used,
                number(view.threshold),
                number(view.validation_accuracy),
                number(view.validation_lower_bound),
                view.items_machine_labeled,
                number(view.items_machine_labeled / items) if items else None,
                number(total / items) if items else None,
                iso(view.created_at),
            ]
        )
    columns = [
        "round",
        "human_labels_used",
        "threshold",
        "validation_accuracy",
        "validation_lower_bound",
        "machine_labeled",
        "coverage",
        "cumulative_coverage",
        "at",
    ]
    return ChartData.of("rounds", columns, rows, {"items": items, "target": _target(job)})


def cost(session: Session, job: Job, *, now: datetime | None = None) -> ChartData:
    """The cost curve: the job's estimated accuracy after each consolidation and round against the answers
    spent by then (``quality_snapshots``, :mod:`groundswell.jobs.quality_history`), oldest first, so a team
    sees when more answers stopped buying accuracy.

    A job with labels but no point yet (never consolidated: its labels are per-submit votes) gets one point
    computed now and not stored (``meta.live``), so the chart is never blank while there is something to show.
    """
    items = non_gold_items(session, job)

    def point(at: datetime, spent: int, accuracy: float | None, low: float | None, high: float | None) -> list[object]:
        per_item = number(spent / items, 3) if items else None
        return [iso(at), spent, per_item, number(accuracy), number(low), number(high)]

    snapshots = session.scalars(
        select(QualitySnapshot)
        .where(QualitySnapshot.job_id == job.id)
        .order_by(QualitySnapshot.created_at, QualitySnapshot.id)
    ).all()
    rows = [
        [
            *point(s.created_at, s.answers_spent, s.estimated_accuracy, s.accuracy_low, s.accuracy_high),
            s.items_labeled,
            s.machine_labeled,
        ]
        for s in snapshots
    ]
    live = False
    if not rows:
        quality = job_quality(session, job)
        if quality.labeled:
            e = quality.estimate
            at = now or utcnow()
            values = (None, None, None) if e is None else (e.accuracy, e.low, e.high)
            rows.append([*point(at, quality.answers_spent, *values), quality.labeled, quality.machine_labeled])
            live = True
    columns = [
        "at",
        "answers_spent",
        "answers_per_item",
        "estimated_accuracy",
        "accuracy_low",
        "accuracy_high",
        "items_labeled",
        "machine_labeled",
    ]
    return ChartData.of("cost", columns, rows, {"target": _target(job), "items": items, "live": live})

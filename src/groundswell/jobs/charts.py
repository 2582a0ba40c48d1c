"""The data behind the requester console's charts, one table per chart, so every chart can also be read as a
table or downloaded as CSV from the same rows (``GET /api/v1/jobs/{name}/charts/{chart}``).

Each chart is a :class:`ChartData`: named ``columns`` and ``rows`` of JSON-ready values (floats rounded,
``None`` for unknown, ISO 8601 UTC strings for times), plus ``meta`` for what is not a row (a target line, a
projection). The tables are plain, not shaped for one charting library, so the CSV is the chart's data as
drawn and a script reads the JSON without knowing Chart.js. Time series fill their empty hours or days with
zeros: a gap in the work is part of the picture, and a category axis would otherwise hide it.

Charts about the work (throughput, final labels over time, annotators, confidence) are here; those about
agreement, automated-labeling rounds and the cost curve in :mod:`groundswell.jobs.charts_quality`.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from groundswell.active import AutoLabelSettings
from groundswell.domain import JobState
from groundswell.errors import NotFoundError
from groundswell.jobs.answers import effective_judgments_query
from groundswell.jobs.charts_base import CHART_INFO, ChartData, ChartFunction, iso, number
from groundswell.jobs.charts_quality import agreement, cost, rounds
from groundswell.jobs.job_settings import consolidation_settings
from groundswell.jobs.lifecycle import job_labels
from groundswell.jobs.progress import annotator_stats
from groundswell.jobs.quality import job_quality
from groundswell.jobs.worker_agreement import worker_skills
from groundswell.store.tables import ConsolidatedLabel, Job, JobItem, Judgment, LabelEvent, utcnow

__all__ = [
    "CHARTS",
    "ChartData",
    "ChartName",
    "annotators",
    "chart_catalog",
    "chart_data",
    "confidence",
    "label_distribution",
    "throughput",
]

ChartName = Literal["throughput", "label_distribution", "annotators", "confidence", "agreement", "rounds", "cost"]
#: The recent pace that projects a finish: answers per hour over this many of the last hours with answers.
RECENT_HOURS = 6
#: Final labels are counted per hour when they all fall within this span, else per day.
HOURLY_SPAN = timedelta(hours=48)
#: The confidence histogram's bins: 20 of width 0.05 on [0, 1].
BINS = 20


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _filled(counts: Counter[datetime], step: timedelta) -> list[datetime]:
    """Every bucket from the first to the last of ``counts``, the empty ones too."""
    if not counts:
        return []
    first, last = min(counts), max(counts)
    return [first + i * step for i in range(int((last - first) / step) + 1)]


def _still_wanted(session: Session, job: Job) -> int:
    """Answers the job's unfinished tweets still ask for (a machine-labeled tweet is done and asks for none,
    which the job-wide ``judgments_wanted - judgments`` would still count)."""
    remaining = session.scalar(
        select(func.sum(JobItem.judgments_wanted - JobItem.judgments_accepted)).where(
            JobItem.job_id == job.id,
            JobItem.is_done.is_(False),
            JobItem.judgments_wanted > JobItem.judgments_accepted,
        )
    )
    return int(remaining or 0)


def throughput(session: Session, job: Job, *, now: datetime | None = None) -> ChartData:
    """Answers per UTC hour and their running total, over each worker's current answers (``jobs.answers``),
    so an answer revised twice counts once, at its latest revision.

    ``meta.answers_wanted`` is what the job still needs: the answers its unfinished tweets ask for, or for a
    job with an accuracy target (where machine labels and the target, not a fixed count, decide the end)
    what :func:`groundswell.jobs.quality.job_quality` projects beyond those spent. The projected finish is
    now plus that many answers at the recent pace (``RECENT_HOURS`` last hours with answers: idle nights do
    not drag it down, the current pace does not hide behind last week's).
    """
    stamps = session.scalars(effective_judgments_query(job.id).with_only_columns(Judgment.submitted_at)).all()
    counts = Counter(_hour(at) for at in stamps)
    rows, total = [], 0
    for hour in _filled(counts, timedelta(hours=1)):
        total += counts[hour]
        rows.append([iso(hour), counts[hour], total])
    wanted = _still_wanted(session, job)
    if AutoLabelSettings.from_mapping(job.settings).enabled:
        quality = job_quality(session, job)
        if quality.target is not None:
            wanted = max(0, quality.answers_projected - quality.answers_spent)
    recent = [counts[hour] for hour in sorted(counts)[-RECENT_HOURS:]]
    rate = sum(recent) / len(recent) if recent else 0.0
    done = job.state in (JobState.COMPLETED, JobState.STOPPED) or wanted == 0
    finish = None
    if rate > 0 and not done:
        finish = iso((now or utcnow()) + timedelta(hours=wanted / rate))
    meta = {
        "answers_wanted": wanted,
        "answers_so_far": total,
        "recent_rate_per_hour": number(rate, 2),
        "projected_finish": finish,
    }
    return ChartData.of("throughput", ["hour", "answers", "cumulative_answers"], rows, meta)


def label_distribution(session: Session, job: Job, *, now: datetime | None = None) -> ChartData:
    """Final labels by when they became final: per bucket, how many of each label, and how many of them the
    model gave (``machine``, included in the label counts).

    When a label became final is read from ``label_events`` (written by triggers when a done tweet's label is
    set, or its tweet becomes done): ``consolidated_labels.updated_at`` moves with every full consolidation,
    which rewrites every row, so it would pile all labels into the last refit. A tweet counts once, at its
    first event, with its current label (a label changed later moves between columns, not in time).
    """
    labels = job_labels(session, job)
    first = (
        select(LabelEvent.item_id, func.min(LabelEvent.created_at).label("at"))
        .where(LabelEvent.job_id == job.id)
        .group_by(LabelEvent.item_id)
        .subquery()
    )
    found = session.execute(
        select(first.c.at, ConsolidatedLabel.label, ConsolidatedLabel.human_annotated)
        .join(ConsolidatedLabel, (ConsolidatedLabel.item_id == first.c.item_id) & (ConsolidatedLabel.job_id == job.id))
        .join(JobItem, (JobItem.item_id == first.c.item_id) & (JobItem.job_id == job.id))
        .where(JobItem.is_done, JobItem.is_gold.is_(False))
    ).all()
    stamps = [at.astimezone(UTC) for at, _, _ in found]
    hourly = bool(stamps) and max(stamps) - min(stamps) < HOURLY_SPAN
    step = timedelta(hours=1) if hourly else timedelta(days=1)

    def bucket(at: datetime) -> datetime:
        return _hour(at) if hourly else _hour(at).replace(hour=0)

    per_label: Counter[tuple[datetime, str]] = Counter()
    machine: Counter[datetime] = Counter()
    for at, (_, label, human) in zip(stamps, found, strict=True):
        per_label[bucket(at), label] += 1
        machine[bucket(at)] += not human
    totals = Counter(bucket(at) for at in stamps)
    rows = [
        [iso(b) if hourly else b.date().isoformat(), *(per_label[b, name] for name in labels), machine[b]]
        for b in _filled(totals, step)
    ]
    meta = {"bucket": "hour" if hourly else "day", "labels": labels, "total": len(stamps)}
    return ChartData.of("label_distribution", ["bucket", *labels, "machine"], rows, meta)


def annotators(session: Session, job: Job, *, now: datetime | None = None) -> ChartData:
    """Each annotator's answers, pace and estimated accuracy: the accuracy-against-speed scatter, where a fast
    and inaccurate annotator stands out. Pace is ``jobs.progress.annotator_stats``'s (breaks left out);
    accuracy the last full consolidation's worker skill (``None`` before one, or for someone it did not see).
    """
    skills = {skill.worker_id: skill for skill in worker_skills(session, job)}
    rows = []
    for stats in annotator_stats(session, job):
        skill = skills.get(stats.worker_id)
        rows.append(
            [
                stats.name,
                stats.judgments,
                number(stats.median_seconds, 1),
                number(stats.per_hour, 1),
                None if skill is None else number(skill.accuracy),
            ]
        )
    methods = sorted({skill.method for skill in skills.values()})
    meta = {"skill_method": methods[0] if len(methods) == 1 else None}
    return ChartData.of(
        "annotators", ["name", "answers", "median_seconds", "tweets_per_hour", "estimated_accuracy"], rows, meta
    )


def confidence(session: Session, job: Job, *, now: datetime | None = None) -> ChartData:
    """How sure the job's final labels are: a histogram of their confidence, people's and the model's apart,
    with the job's confidence threshold in ``meta`` to draw as a line. Final: the tweet is done (a tweet
    still collecting answers has a provisional label); gold tweets have none."""
    found = session.execute(
        select(ConsolidatedLabel.confidence, ConsolidatedLabel.human_annotated)
        .join(JobItem, (JobItem.item_id == ConsolidatedLabel.item_id) & (JobItem.job_id == ConsolidatedLabel.job_id))
        .where(ConsolidatedLabel.job_id == job.id, JobItem.is_done, JobItem.is_gold.is_(False))
    ).all()
    human, machine = [0] * BINS, [0] * BINS
    for value, is_human in found:
        # The small epsilon puts a value on a bin edge (0.15 is 2.9999… twentieths) in the bin it starts.
        index = min(BINS - 1, max(0, math.floor(float(value or 0.0) * BINS + 1e-9)))
        (human if is_human else machine)[index] += 1
    rows = [[number(i / BINS, 2), number((i + 1) / BINS, 2), human[i], machine[i]] for i in range(BINS)]
    meta = {
        "labels": len(found),
        "human": sum(human),
        "machine": sum(machine),
        "threshold": consolidation_settings(job.settings).threshold,
    }
    return ChartData.of("confidence", ["bin_low", "bin_high", "human", "machine"], rows, meta)


#: Each chart's name → its title and the function that computes it, in the order the console shows them.
_FUNCTIONS: dict[ChartName, ChartFunction] = {
    "throughput": throughput,
    "label_distribution": label_distribution,
    "annotators": annotators,
    "confidence": confidence,
    "agreement": agreement,
    "rounds": rounds,
    "cost": cost,
}
CHARTS: dict[ChartName, tuple[str, ChartFunction]] = {name: (CHART_INFO[name][0], f) for name, f in _FUNCTIONS.items()}
assert list(CHARTS) == list(get_args(ChartName)) == list(CHART_INFO), "one order of chart names everywhere"


def chart_catalog() -> list[dict[str, str]]:
    """The charts a job has, in order: name, title and what each shows."""
    return [{"name": name, "title": CHART_INFO[name][0], "description": CHART_INFO[name][1]} for name in CHARTS]


def chart_data(session: Session, job: Job, name: str, *, now: datetime | None = None) -> ChartData:
    """One chart of ``job`` by name; an unknown name is a :class:`~groundswell.errors.NotFoundError`."""
    for known, (_, function) in CHARTS.items():
        if known == name:
            return function(session, job, now=now)
    raise NotFoundError(f"no chart named {name!r}; charts: {', '.join(CHARTS)}")

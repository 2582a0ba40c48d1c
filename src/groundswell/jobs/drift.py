"""Drift, day by day: what a streaming job's labels look like each day, and whether the model still agrees
with people.

Per UTC day on which labels became final (``label_events``; a tweet counts once, on the day of its latest
final label): how many, the share of each label, the share the model labeled, and the model–human
agreement on the tweets people labeled that carry a model vote (``job_items.model_label``: the vote the
round made before people answered, or its held-out replacement). A day whose agreement falls below the floor
gets a warning, so a team sees topics or language moving away from what the model learned before its
labels go wrong.

The floor: as given, or else the agreement over the whole window minus ``drop`` (10 points): a drop
against the job's own level, not a constant that would mean different things on different tasks. Days
with fewer than ``min_reviewed`` reviewed tweets get no verdict (too few to tell).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from groundswell.errors import InvalidInputError
from groundswell.jobs.lifecycle import job_labels
from groundswell.store.tables import ConsolidatedLabel, Job, JobItem, LabelEvent, utcnow

__all__ = ["DriftDay", "DriftReport", "drift_report"]


@dataclass(frozen=True)
class DriftDay:
    """One day's final labels."""

    day: date
    labels: int
    shares: dict[str, float]
    machine_share: float
    reviewed: int
    agreement: float | None
    warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "labels": self.labels,
            "shares": self.shares,
            "machine_share": self.machine_share,
            "reviewed": self.reviewed,
            "agreement": self.agreement,
            "warning": self.warning,
        }


@dataclass(frozen=True)
class DriftReport:
    """The window's days (oldest first), the agreement over the window and the floor the days were held to."""

    job: str
    days: list[DriftDay]
    agreement: float | None
    floor: float | None
    warnings: list[str] = field(default_factory=list)


def drift_report(
    session: Session,
    job: Job,
    *,
    days: int = 14,
    agreement_floor: float | None = None,
    drop: float = 0.10,
    min_reviewed: int = 20,
    now: datetime | None = None,
) -> DriftReport:
    """The job's last ``days`` UTC days of final labels (module docstring)."""
    if not 1 <= days <= 366:
        raise InvalidInputError(f"days must be 1–366, got {days}")
    if agreement_floor is not None and not 0.0 <= agreement_floor <= 1.0:
        raise InvalidInputError(f"agreement floor must be in [0, 1], got {agreement_floor}")
    labels = job_labels(session, job)
    end = (now or utcnow()).astimezone(UTC)
    start = datetime.combine(end.date() - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC)
    latest = (
        select(LabelEvent.item_id, func.max(LabelEvent.created_at).label("at"))
        .where(LabelEvent.job_id == job.id, LabelEvent.created_at >= start)
        .group_by(LabelEvent.item_id)
        .subquery()
    )
    rows = session.execute(
        select(latest.c.at, ConsolidatedLabel.class_index, ConsolidatedLabel.human_annotated, JobItem.model_label)
        .join(ConsolidatedLabel, (ConsolidatedLabel.item_id == latest.c.item_id) & (ConsolidatedLabel.job_id == job.id))
        .join(JobItem, (JobItem.item_id == latest.c.item_id) & (JobItem.job_id == job.id))
        .where(JobItem.is_done, ~JobItem.is_gold)
    ).all()
    per_day: dict[date, list[tuple[int, bool, int | None]]] = defaultdict(list)
    for at, class_index, human, model_label in rows:
        stamp = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        per_day[stamp.astimezone(UTC).date()].append((int(class_index), bool(human), model_label))
    reviewed_all = [(c, m) for day in per_day.values() for c, h, m in day if h and m is not None]
    overall = sum(c == m for c, m in reviewed_all) / len(reviewed_all) if reviewed_all else None
    floor = agreement_floor if agreement_floor is not None else (None if overall is None else max(0.0, overall - drop))
    report_days, warnings = [], []
    for day in sorted(per_day):
        entries = per_day[day]
        counts = Counter(c for c, _, _ in entries)
        reviewed = [(c, m) for c, h, m in entries if h and m is not None]
        agreement = sum(c == m for c, m in reviewed) / len(reviewed) if reviewed else None
        warning = None
        if agreement is not None and floor is not None and len(reviewed) >= min_reviewed and agreement < floor:
            warning = (
                f"{day.isoformat()}: model–human agreement {agreement:.0%} on {len(reviewed)} reviewed tweets, "
                f"below {floor:.0%}"
            )
            warnings.append(warning)
        report_days.append(
            DriftDay(
                day=day,
                labels=len(entries),
                shares={name: counts.get(i, 0) / len(entries) for i, name in enumerate(labels)},
                machine_share=sum(not h for _, h, _ in entries) / len(entries),
                reviewed=len(reviewed),
                agreement=agreement,
                warning=warning,
            )
        )
    return DriftReport(job.name, report_days, overall, floor, warnings)

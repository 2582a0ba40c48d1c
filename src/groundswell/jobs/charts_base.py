"""What the chart modules (:mod:`groundswell.jobs.charts`, :mod:`groundswell.jobs.charts_quality`) share: the
table a chart is, each chart's title and description, and how values are made JSON-ready."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from groundswell.store.tables import Job, JobItem

__all__ = ["CHART_INFO", "ChartData", "ChartFunction", "iso", "non_gold_items", "number"]

#: Each chart's title and what it shows, in the order the console draws them.
CHART_INFO: dict[str, tuple[str, str]] = {
    "throughput": (
        "Answers per hour",
        "Answers given each UTC hour and their running total, with the recent pace and the finish it projects.",
    ),
    "label_distribution": (
        "Final labels over time",
        "How many labels of each kind became final per day (per hour for a job under two days old), and how "
        "many of them the model gave.",
    ),
    "annotators": (
        "Annotators: accuracy against speed",
        "Each annotator's answers, median seconds per tweet, tweets per hour and estimated accuracy.",
    ),
    "confidence": (
        "Confidence of final labels",
        "How many final labels fall in each confidence bin of width 0.05, people's and the model's apart.",
    ),
    "agreement": (
        "Agreement per label",
        "For each label: its share of the answers on tweets answered at least twice, how often a second "
        "annotator agrees on it, and Fleiss' kappa and Krippendorff's alpha for it against the rest.",
    ),
    "rounds": (
        "Automated-labeling rounds",
        "Each round's human labels, confidence threshold, validation accuracy and bound, and the tweets it "
        "machine-labeled.",
    ),
    "cost": (
        "Cost curve: accuracy against answers spent",
        "The estimated accuracy of the job's labels, with its 95 % interval, against the human answers spent "
        "so far, after each consolidation and automated-labeling round.",
    ),
}


@dataclass(frozen=True)
class ChartData:
    """One chart as a table: ``rows`` hold one value per column, JSON-ready; ``meta`` what is not a row."""

    name: str
    title: str
    description: str
    columns: list[str]
    rows: list[list[Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, columns: list[str], rows: list[list[Any]], meta: dict[str, Any]) -> ChartData:
        """The chart ``name`` with its registered title and description."""
        title, description = CHART_INFO[name]
        return cls(name, title, description, columns, rows, meta)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "columns": self.columns,
            "rows": self.rows,
            "meta": self.meta,
        }


class ChartFunction(Protocol):
    """A chart: computed from the store for one job (``now``: the moment a projection starts from)."""

    def __call__(self, session: Session, job: Job, *, now: datetime | None = None) -> ChartData: ...


def iso(at: datetime) -> str:
    """A time as ISO 8601 in UTC to the second (``2026-12-04T13:00:00Z``): what a JavaScript ``Date`` parses."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def number(value: float | None, digits: int = 4) -> float | None:
    """A float rounded for display, or ``None`` for unknown (NaN and infinities included: JSON has neither)."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def non_gold_items(session: Session, job: Job) -> int:
    """Tweets in the job, gold left out: what coverage and answers per tweet are counted against."""
    return int(session.scalar(select(func.count()).where(JobItem.job_id == job.id, JobItem.is_gold.is_(False))) or 0)

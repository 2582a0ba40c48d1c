"""How good a job's labels are and what they cost: the figures `job show`, the job page and the API report.

* **Estimated accuracy** with a 95 % interval (:func:`groundswell.active.estimate_accuracy`): the mean
  probability that each current label is right, from the consolidation model's calibrated confidences
  (the posterior for human labels, the calibrated model confidence for machine labels). When the job has gold
  tweets, the last review's check of the posterior against them (what it said of each gold tweet before
  seeing its gold label) corrects it. Majority-vote confidences are vote shares, not probabilities: jobs
  consolidated by a vote get no estimate rather than a wrong one.
* **Answers spent** (people's answers) and **answers projected** to finish: the spent ones, those still
  wanted on started tweets, and for the tweets nobody has touched the answers per labeled tweet so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from groundswell.active import AccuracyEstimate, AutoLabelSettings, estimate_accuracy
from groundswell.domain import WorkState
from groundswell.jobs.answers import human_judgment_count
from groundswell.jobs.redundancy import REVIEW_WORK
from groundswell.store.tables import ConsolidatedLabel, Job, JobItem, Work

__all__ = ["JobQuality", "job_quality"]

#: Consolidation methods whose confidence is a vote share, not a probability.
_VOTE_SHARES = frozenset({"mv", "wmv"})


@dataclass(frozen=True)
class JobQuality:
    """The job's estimated accuracy and its cost in human answers.

    Attributes:
        estimate: Estimated accuracy of the current labels with a 95 % interval (``None``: no labels yet,
            or only vote shares to go on).
        basis: What the estimate rests on, in words.
        target: The job's accuracy target (``None`` when it has none).
        labeled: Tweets with a current label.
        machine_labeled: Of them, machine labels.
        items: Tweets in the job (gold left out).
        answers_spent: Human answers given.
        answers_projected: Human answers the job is projected to spend in all.
    """

    estimate: AccuracyEstimate | None
    basis: str
    target: float | None
    labeled: int
    machine_labeled: int
    items: int
    answers_spent: int
    answers_projected: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "estimated_accuracy": None if self.estimate is None else self.estimate.as_dict(),
            "basis": self.basis,
            "accuracy_target": self.target,
            "labeled": self.labeled,
            "machine_labeled": self.machine_labeled,
            "items": self.items,
            "answers_spent": self.answers_spent,
            "answers_projected": self.answers_projected,
        }


def _gold_check(session: Session, job: Job) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
    """The last review's gold check as (hits, confidences) arrays of equal sums, or ``None``."""
    result = session.scalar(
        select(Work.result)
        .where(Work.kind == REVIEW_WORK, Work.job_id == job.id, Work.state == WorkState.DONE)
        .order_by(Work.id.desc())
        .limit(1)
    )
    check = (result or {}).get("gold_calibration") or {}
    n = int(check.get("items", 0) or 0)
    if n < 1:
        return None
    right, confidence = float(check["right"]), float(check["confidence"])
    hits = np.zeros(n)
    hits[: round(right)] = 1.0
    return hits, np.full(n, confidence / n)


def job_quality(session: Session, job: Job) -> JobQuality:
    """The figures of the module docstring for ``job``."""
    rows = session.execute(
        select(ConsolidatedLabel.confidence, ConsolidatedLabel.human_annotated, ConsolidatedLabel.method).where(
            ConsolidatedLabel.job_id == job.id
        )
    ).all()
    machine = sum(1 for _, human, _ in rows if not human)
    methods = {method for _, human, method in rows if human}
    items = int(session.scalar(select(func.count()).where(JobItem.job_id == job.id, JobItem.is_gold.is_(False))) or 0)
    estimate = None
    if not rows:
        basis = "no labels yet"
    elif methods & _VOTE_SHARES:
        basis = "none: majority-vote confidences are vote shares, not probabilities"
    else:
        confidence = np.asarray([float(c or 0.0) for c, _, _ in rows])
        check = _gold_check(session, job)
        if check is None:
            estimate = estimate_accuracy(confidence)
            basis = "calibrated confidences of " + ", ".join(sorted(methods | ({"auto-label"} if machine else set())))
        else:
            estimate = estimate_accuracy(confidence, gold_hits=check[0], gold_confidence=check[1])
            basis = f"calibrated confidences, corrected on {len(check[0])} gold tweets"
    spent = human_judgment_count(session, job)
    outstanding, untouched, human_labeled = session.execute(
        select(
            func.sum(JobItem.judgments_wanted - JobItem.judgments_accepted).filter(
                JobItem.started, JobItem.is_done.is_(False)
            ),
            func.count().filter(JobItem.started.is_(False), JobItem.is_done.is_(False)),
            func.count().filter(JobItem.judgments_accepted > 0),
        ).where(JobItem.job_id == job.id, JobItem.is_gold.is_(False))
    ).one()
    rate = spent / human_labeled if human_labeled else float(job.workers_per_item)
    projected = spent + int(outstanding or 0) + round(int(untouched or 0) * rate)
    settings = AutoLabelSettings.from_mapping(job.settings)
    target = settings.accuracy_target if settings.enabled else None
    return JobQuality(estimate, basis, target, len(rows), machine, items, spent, projected)

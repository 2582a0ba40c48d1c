"""Consolidation inside a labeling job: one label per item, worker skills, agreement, dynamic redundancy.

Two paths write ``consolidated_labels``, for two different needs:

* **On every submit** (:func:`groundswell.jobs.annotate.answer_vote.after_answer`, on the annotator's path
  with the item's row locked): a majority vote over that item's current answers. It reads at most a few rows,
  so the admin page and dynamic redundancy see every answer at once.
* **In the background and at job end** (:func:`consolidate_job`, run by ``groundswell.runner`` or
  ``groundswell job consolidate``): the job's model (``Job.settings["consolidation_method"]``, default
  ``auto``) over all judgments, with gold items informing worker quality. It replaces the per-submit
  votes and refreshes the per-worker skill table.

A background fit reads a snapshot and may finish after new answers arrived. So that it never overwrites a
fresher per-submit label with an older answer set, it writes its rows with ``updated_at`` = the snapshot
time and only replaces rows not updated since, and leaves alone every item answered (or withdrawn) after the
snapshot's last judgment (the next periodic run picks the newer answers up). The runner runs it in three
steps (``runner.staged``): :func:`read_consolidation` in a short read-only transaction,
:func:`compute_consolidation` (the fit) with no transaction open, so that on SQLite the web app's requests
never wait for a fit, and :func:`write_consolidation` in a short write transaction.

Confidence. Majority-vote confidence is the vote share, as in Ground Truth, except that an item with a
single judgment gets **0.0**: Ground Truth reports 0.00 with one worker per object, since one answer says
nothing about agreement. Dawid–Skene confidences are the models' calibrated posteriors.

An admin's correction (method ``adjudicated``, :mod:`groundswell.jobs.adjudication`) is never replaced or
deleted here: a database trigger (migration 0010) skips the upsert's update of it, and the clean-up delete
leaves it out.

Gold items (``job_items.is_gold``) inform worker skills but never get a consolidated label, so they never
reach an output manifest. The admin page reads the results through :mod:`groundswell.jobs.worker_agreement`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from groundswell.consolidate import AutoAggregator, BaseAggregator, make_aggregator
from groundswell.jobs.answers import effective_judgments_query, gold_labels, judgments_frame
from groundswell.jobs.job_settings import consolidation_settings
from groundswell.jobs.lifecycle import JobRef, job_labels
from groundswell.jobs.posterior import (
    POSTERIOR_METHOD,
    PosteriorInputs,
    fit_posterior,
    posterior_rule,
    read_posterior_inputs,
)
from groundswell.jobs.quality_history import record_quality_snapshot
from groundswell.store.queue import enqueue
from groundswell.store.tables import (
    ADJUDICATED,
    ConsolidatedLabel,
    Job,
    JobItem,
    Judgment,
    WorkerSkill,
    utcnow,
)

__all__ = [
    "CONSOLIDATE_WORK",
    "ConsolidationReport",
    "compute_consolidation",
    "consolidate_job",
    "read_consolidation",
    "request_consolidation",
    "write_consolidation",
]

#: ``work.kind`` of a full consolidation; ``groundswell.runner`` runs it with :func:`consolidate_job`.
CONSOLIDATE_WORK = "consolidate"
#: Methods whose confidence is a vote share, to which Ground Truth's one-worker rule (confidence 0) applies.
_VOTE_METHODS = frozenset({"mv", "wmv"})
_WRITE_CHUNK = 5000


@dataclass(frozen=True)
class ConsolidationReport:
    """What one full consolidation did."""

    job: str
    method: str
    reason: str
    items_labeled: int
    judgments: int
    workers: int
    gold_items: int
    snapshot: datetime
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``work.result`` and the CLI's ``--json``."""
        return {
            "job": self.job,
            "method": self.method,
            "reason": self.reason,
            "items_labeled": self.items_labeled,
            "judgments": self.judgments,
            "workers": self.workers,
            "gold_items": self.gold_items,
            "snapshot": self.snapshot.isoformat(),
            "seconds": round(self.seconds, 3),
        }


# --- reading judgments ----------------------------------------------------------------------------------------


def _upsert(session: Session, rows: list[dict[str, Any]], *, only_if_older: bool) -> None:
    """Insert or replace label rows; with ``only_if_older``, leave rows updated after this write's time."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = upsert(ConsolidatedLabel)
    columns = ("label", "class_index", "confidence", "method", "human_annotated", "judgment_count", "updated_at")
    stmt = stmt.on_conflict_do_update(
        index_elements=[ConsolidatedLabel.job_id, ConsolidatedLabel.item_id],
        set_={name: stmt.excluded[name] for name in (*columns, "model_version_id")},
        where=(ConsolidatedLabel.updated_at <= stmt.excluded.updated_at) if only_if_older else None,
    )
    for start in range(0, len(rows), _WRITE_CHUNK):
        session.execute(stmt, rows[start : start + _WRITE_CHUNK])


def request_consolidation(session: Session, job: JobRef) -> None:
    """Queue a full consolidation of the job for the background runner, unless one is already waiting."""
    enqueue(session, CONSOLIDATE_WORK, job_id=job.id)


# --- the full model -------------------------------------------------------------------------------------------


def _fitted_method(model: BaseAggregator, method: str) -> tuple[str, str, BaseAggregator]:
    if isinstance(model, AutoAggregator):
        return model.method_, f"auto: {model.reason_}", model.aggregator_
    return method, f"{method} (job setting)", model


@dataclass(frozen=True)
class ConsolidationPlan:
    """What :func:`read_consolidation` read: plain data, so the fit needs no session."""

    job_id: int
    job_name: str
    method: str
    by_posterior: bool
    labels: list[str]
    gold_items: set[int]
    gold: pd.Series[Any]
    frame: pd.DataFrame
    posterior: PosteriorInputs | None
    marker: int
    snapshot: datetime
    random_state: int
    started: float


@dataclass(frozen=True)
class ConsolidationFit:
    """What :func:`compute_consolidation` fitted, as rows ready to write."""

    plan: ConsolidationPlan
    method: str
    reason: str = "no judgments yet"
    rows: list[dict[str, Any]] = field(default_factory=list)
    skills: list[dict[str, Any]] = field(default_factory=list)


def read_consolidation(
    session: Session, job: Job, *, method: str | None = None, random_state: int = 0
) -> ConsolidationPlan:
    """Read the job's current answers, gold labels and (posterior rule) model votes; only reads."""
    started = time.perf_counter()
    snapshot = utcnow()
    by_posterior = method is None and posterior_rule(job)
    method = method or consolidation_settings(job.settings).method
    labels = job_labels(session, job)
    gold_items, gold = gold_labels(session, job, labels)
    frame = judgments_frame(session, job)
    marker = int(session.scalar(select(func.max(Judgment.id)).where(Judgment.job_id == job.id)) or 0)
    posterior = read_posterior_inputs(session, job, answers=frame) if by_posterior and not frame.empty else None
    return ConsolidationPlan(
        job.id, job.name, method, by_posterior, labels, gold_items, gold, frame, posterior, marker, snapshot,
        random_state, started,
    )  # fmt: skip


def compute_consolidation(plan: ConsolidationPlan) -> ConsolidationFit:
    """Fit the consolidation model and build the label and worker-skill rows; touches no database."""
    frame, labels, gold, gold_items = plan.frame, plan.labels, plan.gold, plan.gold_items
    if frame.empty:
        return ConsolidationFit(plan, plan.method)
    if plan.by_posterior:
        assert plan.posterior is not None  # the frame has answers
        model: BaseAggregator = fit_posterior(plan.posterior, random_state=plan.random_state).model
        chosen, reason, fitted = POSTERIOR_METHOD, "posterior rule (job setting)", model
    else:
        model = make_aggregator(plan.method, labels=labels, random_state=plan.random_state)
        model.fit(frame, gold.loc[gold.index.isin(frame["task"])] if len(gold) else None)
        chosen, reason, fitted = _fitted_method(model, plan.method)
    skills = model.skills_
    keep = ~model.labels_.index.isin(list(gold_items))
    tasks = model.labels_.index[keep].to_numpy()
    winners = model.labels_[keep].to_numpy()
    confidence = model.confidence_[keep].to_numpy(dtype=np.float64)
    counts = frame.groupby("task").size().reindex(tasks).to_numpy()
    if not plan.by_posterior and chosen in _VOTE_METHODS:
        confidence = np.where(counts == 1, 0.0, confidence)
    index = {label: position for position, label in enumerate(labels)}
    rows = [
        {
            "job_id": plan.job_id,
            "item_id": int(task),
            "label": str(label),
            "class_index": index[str(label)],
            "confidence": float(conf),
            "method": chosen,
            "human_annotated": True,
            "judgment_count": int(count),
            "model_version_id": None,
            "updated_at": plan.snapshot,
        }
        for task, label, conf, count in zip(tasks, winners, confidence, counts, strict=True)
    ]
    skill_rows = _skill_rows(plan.job_id, frame, gold, chosen, fitted, skills, labels, plan.snapshot)
    return ConsolidationFit(plan, chosen, reason, rows, skill_rows)


def write_consolidation(session: Session, job: Job, fit: ConsolidationFit) -> ConsolidationReport:
    """Store what :func:`compute_consolidation` fitted: labels of items answered (or withdrawn) since the read
    are left to their fresher per-submit vote (module docstring)."""
    plan = fit.plan
    judged = effective_judgments_query(job.id).with_only_columns(Judgment.item_id).distinct()
    # Labels of items nobody answers any more, and of gold items, go; machine labels and an admin's
    # corrections (which need no answers: jobs.adjudication) stay.
    session.execute(
        delete(ConsolidatedLabel).where(
            ConsolidatedLabel.job_id == job.id,
            ConsolidatedLabel.human_annotated,
            ConsolidatedLabel.method != ADJUDICATED,
            ConsolidatedLabel.updated_at <= plan.snapshot,
            ConsolidatedLabel.item_id.not_in(judged.scalar_subquery()),
        )
    )
    if plan.gold_items:
        gold_query = select(JobItem.item_id).where(JobItem.job_id == job.id, JobItem.is_gold)
        session.execute(
            delete(ConsolidatedLabel).where(
                ConsolidatedLabel.job_id == job.id, ConsolidatedLabel.item_id.in_(gold_query.scalar_subquery())
            )
        )
    gold_count = len(plan.gold_items)
    if plan.frame.empty:
        session.execute(delete(WorkerSkill).where(WorkerSkill.job_id == job.id))
        return ConsolidationReport(job.name, fit.method, fit.reason, 0, 0, 0, gold_count, plan.snapshot, 0.0)
    newer = set(
        session.scalars(
            select(Judgment.item_id).where(Judgment.job_id == job.id, Judgment.id > plan.marker).distinct()
        ).all()
    )
    rows = [row for row in fit.rows if row["item_id"] not in newer] if newer else fit.rows
    _upsert(session, rows, only_if_older=True)
    session.execute(delete(WorkerSkill).where(WorkerSkill.job_id == job.id))
    for start in range(0, len(fit.skills), _WRITE_CHUNK):
        session.execute(insert(WorkerSkill), fit.skills[start : start + _WRITE_CHUNK])
    record_quality_snapshot(session, job)  # the cost curve's point (jobs.quality_history)
    return ConsolidationReport(
        job=job.name,
        method=fit.method,
        reason=fit.reason,
        items_labeled=len(rows),
        judgments=len(plan.frame),
        workers=int(plan.frame["worker"].nunique()),
        gold_items=gold_count,
        snapshot=plan.snapshot,
        seconds=time.perf_counter() - plan.started,
    )


def consolidate_job(
    session: Session, job: Job, *, method: str | None = None, random_state: int = 0
) -> ConsolidationReport:
    """Fit the job's consolidation model on all current judgments; store labels and worker skills.

    Args:
        session: An open transaction; nothing is committed here.
        job: The job.
        method: Overrides ``Job.settings["consolidation_method"]`` (``auto``, ``mv``, ``wmv``, ``ds``, ``ods``).
            Without it, a job under dynamic redundancy's ``posterior`` or ``target`` rule takes its labels from
            the job's posterior (``jobs.posterior``: worker skills and the model's vote; method ``"posterior"``).
        random_state: Seed for tie-breaking.

    Returns:
        What was fitted and written.
    """
    plan = read_consolidation(session, job, method=method, random_state=random_state)
    return write_consolidation(session, job, compute_consolidation(plan))


def _skill_rows(
    job_id: int,
    frame: pd.DataFrame,
    gold: pd.Series[Any],
    method: str,
    fitted: Any,
    skills: pd.Series[float],
    labels: list[str],
    when: datetime,
) -> list[dict[str, Any]]:
    """The job's worker-skill rows: accuracy from the model, accuracy on gold, confusion matrix."""
    per_worker = frame.groupby("worker").size()
    on_gold = frame[frame["task"].isin(gold.index)]
    gold_hits = (on_gold["label"].to_numpy() == gold.reindex(on_gold["task"]).to_numpy()).astype(float)
    gold_accuracy = pd.Series(gold_hits, index=on_gold["worker"].to_numpy()).groupby(level=0).mean()
    confusions: pd.DataFrame | None = getattr(fitted, "confusions_", None)
    rows = []
    for worker_id, accuracy in zip(skills.index.to_numpy(), skills.to_numpy(), strict=True):
        confusion = None
        if confusions is not None:
            matrix = confusions.loc[worker_id].reindex(index=labels, columns=labels)
            confusion = [[round(float(v), 6) for v in row] for row in matrix.to_numpy()]
        rows.append(
            {
                "job_id": job_id,
                "worker_id": int(worker_id),
                "method": method,
                "accuracy": float(accuracy),
                "gold_accuracy": float(gold_accuracy[worker_id]) if worker_id in gold_accuracy.index else None,
                "confusion": confusion,
                "judgment_count": int(per_worker.get(worker_id, 0)),
                "updated_at": when,
            }
        )
    return rows

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
time and only replaces rows not updated since (the next periodic run picks the newer answers up).

Confidence. Majority-vote confidence is the vote share, as in Ground Truth, except that an item with a
single judgment gets **0.0**: Ground Truth reports 0.00 with one worker per object, since one answer says
nothing about agreement. Dawid–Skene confidences are the models' calibrated posteriors.

Gold items (``job_items.is_gold``) inform worker skills but never get a consolidated label, so they never
reach an output manifest. The admin page reads the results through :mod:`groundswell.jobs.worker_agreement`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from groundswell.consolidate import AutoAggregator, BaseAggregator, make_aggregator
from groundswell.jobs.answers import effective_judgments_query, gold_labels, judgments_frame
from groundswell.jobs.job_settings import consolidation_settings
from groundswell.jobs.lifecycle import JobRef, job_labels
from groundswell.jobs.posterior import POSTERIOR_METHOD, fit_job_posterior, posterior_rule
from groundswell.store.queue import enqueue
from groundswell.store.tables import (
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
    "consolidate_job",
    "request_consolidation",
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
    started = time.perf_counter()
    snapshot = utcnow()
    by_posterior = method is None and posterior_rule(job)
    method = method or consolidation_settings(job.settings).method
    labels = job_labels(session, job)
    gold_items, gold = gold_labels(session, job, labels)
    frame = judgments_frame(session, job)
    judged = effective_judgments_query(job.id).with_only_columns(Judgment.item_id).distinct()
    # Labels of items nobody answers any more, and of gold items, go; machine labels stay.
    session.execute(
        delete(ConsolidatedLabel).where(
            ConsolidatedLabel.job_id == job.id,
            ConsolidatedLabel.human_annotated,
            ConsolidatedLabel.updated_at <= snapshot,
            ConsolidatedLabel.item_id.not_in(judged.scalar_subquery()),
        )
    )
    if gold_items:
        gold_query = select(JobItem.item_id).where(JobItem.job_id == job.id, JobItem.is_gold)
        session.execute(
            delete(ConsolidatedLabel).where(
                ConsolidatedLabel.job_id == job.id, ConsolidatedLabel.item_id.in_(gold_query.scalar_subquery())
            )
        )
    if frame.empty:
        session.execute(delete(WorkerSkill).where(WorkerSkill.job_id == job.id))
        return ConsolidationReport(job.name, method, "no judgments yet", 0, 0, 0, len(gold_items), snapshot, 0.0)
    if by_posterior:
        posterior = fit_job_posterior(session, job, answers=frame, random_state=random_state)
        assert posterior is not None  # the frame has answers
        model: BaseAggregator = posterior.model
        chosen, reason, fitted = POSTERIOR_METHOD, "posterior rule (job setting)", model
    else:
        model = make_aggregator(method, labels=labels, random_state=random_state)
        model.fit(frame, gold.loc[gold.index.isin(frame["task"])] if len(gold) else None)
        chosen, reason, fitted = _fitted_method(model, method)
    skills = model.skills_
    keep = ~model.labels_.index.isin(list(gold_items))
    tasks = model.labels_.index[keep].to_numpy()
    winners = model.labels_[keep].to_numpy()
    confidence = model.confidence_[keep].to_numpy(dtype=np.float64)
    counts = frame.groupby("task").size().reindex(tasks).to_numpy()
    if not by_posterior and chosen in _VOTE_METHODS:
        confidence = np.where(counts == 1, 0.0, confidence)
    index = {label: position for position, label in enumerate(labels)}
    rows = [
        {
            "job_id": job.id,
            "item_id": int(task),
            "label": str(label),
            "class_index": index[str(label)],
            "confidence": float(conf),
            "method": chosen,
            "human_annotated": True,
            "judgment_count": int(count),
            "model_version_id": None,
            "updated_at": snapshot,
        }
        for task, label, conf, count in zip(tasks, winners, confidence, counts, strict=True)
    ]
    _upsert(session, rows, only_if_older=True)
    _store_skills(session, job, frame, gold, chosen, fitted, skills, labels, snapshot)
    return ConsolidationReport(
        job=job.name,
        method=chosen,
        reason=reason,
        items_labeled=len(rows),
        judgments=len(frame),
        workers=int(frame["worker"].nunique()),
        gold_items=len(gold_items),
        snapshot=snapshot,
        seconds=time.perf_counter() - started,
    )


def _store_skills(
    session: Session,
    job: Job,
    frame: pd.DataFrame,
    gold: pd.Series[Any],
    method: str,
    fitted: Any,
    skills: pd.Series[float],
    labels: list[str],
    when: datetime,
) -> None:
    """Replace the job's worker-skill rows: accuracy from the model, accuracy on gold, confusion matrix."""
    per_worker = frame.groupby("worker").size()
    on_gold = frame[frame["task"].isin(gold.index)]
    gold_hits = (on_gold["label"].to_numpy() == gold.reindex(on_gold["task"]).to_numpy()).astype(float)
    gold_accuracy = pd.Series(gold_hits, index=on_gold["worker"].to_numpy()).groupby(level=0).mean()
    confusions: pd.DataFrame | None = getattr(fitted, "confusions_", None)
    session.execute(delete(WorkerSkill).where(WorkerSkill.job_id == job.id))
    rows = []
    for worker_id, accuracy in zip(skills.index.to_numpy(), skills.to_numpy(), strict=True):
        confusion = None
        if confusions is not None:
            matrix = confusions.loc[worker_id].reindex(index=labels, columns=labels)
            confusion = [[round(float(v), 6) for v in row] for row in matrix.to_numpy()]
        rows.append(
            {
                "job_id": job.id,
                "worker_id": int(worker_id),
                "method": method,
                "accuracy": float(accuracy),
                "gold_accuracy": float(gold_accuracy[worker_id]) if worker_id in gold_accuracy.index else None,
                "confusion": confusion,
                "judgment_count": int(per_worker.get(worker_id, 0)),
                "updated_at": when,
            }
        )
    for start in range(0, len(rows), _WRITE_CHUNK):
        session.execute(insert(WorkerSkill), rows[start : start + _WRITE_CHUNK])

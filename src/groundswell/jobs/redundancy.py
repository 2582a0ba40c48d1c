"""Dynamic redundancy's ``posterior`` rule: ask one more person only where the label is still unsure, weighing
each answer by its worker's skill and counting the auto-label model as one more voter.

Under ``redundancy_rule = "posterior"`` an item is done once it has the job's minimum of answers
(``workers_per_item``, typically 1). The background runner then reviews the answered items
(:func:`review_redundancy`, work kind :data:`REVIEW_WORK`) and reopens, one more answer at a time up to
``max_workers_per_item``, every item whose confidence is below ``redundancy_threshold``. The confidence is the
largest class probability of (:func:`groundswell.active.posterior`)

    prior(model vote) · Π_answers confusion_worker[:, answer]

* the **prior** is the model's calibrated distribution over the labels (``job_items.model_proba``, or its
  top class and probability, ``model_label``/``model_confidence``, with the rest spread evenly), stored by
  the last automated-labeling round before anyone started the item (``model_vote``: a model that had not
  seen the item's label; uniform without one, and for validation items, which stay the people's alone);
  no class is given more than 0.99;
* the **confusion matrices** come from Dawid–Skene's EM run with those priors
  (:func:`groundswell.active.fit_posteriors`): the model's vote takes part on every item it voted on, so a
  worker's skill is measured even on items only they answered, and gold items (their prior is the gold
  label) measure their workers; each matrix carries :data:`SKILL_STRENGTH` pseudo-answers per true class of
  a symmetric matrix of :data:`DEFAULT_WORKER_ACCURACY`. No gold is needed.

The same posterior gives the job's final labels (``jobs.consolidation.consolidate_job`` under this rule):
an item settled by one person agreeing with the model keeps the model's support in its label.

So with a threshold of 0.7, an average worker agreeing with a model that is 70 % sure settles a tweet, one
worker alone rarely does, and a disagreement asks for more.

Why in the runner rather than on every submit: the rule needs every answer's worker and their skill, which
the per-submit path does not read (it stays a few-row update). A reopened item is "started", so routing
serves it before fresh ones; a job that completed in the meantime runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from groundswell.active import fit_posteriors, model_prior
from groundswell.active.base import FloatArray
from groundswell.active.voting import MAX_PRIOR
from groundswell.domain import JobState, WorkState
from groundswell.jobs.job_settings import consolidation_settings
from groundswell.jobs.lifecycle import job_labels
from groundswell.store.tables import Item, Job, JobItem, Judgment, Work, utcnow

__all__ = [
    "DEFAULT_WORKER_ACCURACY",
    "POSTERIOR_METHOD",
    "REVIEW_WORK",
    "SKILL_STRENGTH",
    "PosteriorLabels",
    "item_posteriors",
    "posterior_consolidation",
    "posterior_rule",
    "review_redundancy",
    "schedule_redundancy_reviews",
]

#: ``work.kind`` of a review; ``groundswell.runner`` runs it with :func:`review_redundancy`.
REVIEW_WORK = "redundancy_review"
#: ``consolidated_labels.method`` of labels taken from the posterior.
POSTERIOR_METHOD = "posterior"
#: Accuracy assumed for a worker the fit knows little about (a typical crowd worker on 3 classes).
DEFAULT_WORKER_ACCURACY = 0.7
#: Pseudo-answers of the default mixed into a fitted confusion matrix.
SKILL_STRENGTH = 10.0
_CHUNK = 5000


def _answers(session: Session, job: Job) -> pd.DataFrame:
    """Each worker's current answer per item (latest revision, withdrawals dropped): task, worker, label."""
    rows = session.execute(
        select(Judgment.item_id, Judgment.worker_id, Judgment.revision, Judgment.label).where(Judgment.job_id == job.id)
    ).all()
    frame = pd.DataFrame(rows, columns=["task", "worker", "revision", "label"])
    if frame.empty:
        return frame.drop(columns="revision")
    frame = frame.sort_values(["task", "worker", "revision"]).drop_duplicates(["task", "worker"], keep="last")
    return frame[frame["label"].notna()].drop(columns="revision").reset_index(drop=True)


def _posteriors(
    items: pd.DataFrame, frame: pd.DataFrame, labels: list[str], gold: dict[int, int]
) -> tuple[FloatArray, pd.Series[Any], FloatArray]:
    """Posterior per row of ``items``, and per worker id its row in the confusion matrices (module docstring)."""
    k = len(labels)
    priors = np.empty((len(items), k))
    for i, (item, label, conf, proba) in enumerate(
        zip(items.index, items["model_label"], items["model_confidence"], items["model_proba"], strict=True)
    ):
        if item in gold:  # a gold item's label is known: it measures its workers and is never reopened
            priors[i] = np.full(k, 1e-6)
            priors[i, gold[item]] = 1.0
        elif isinstance(proba, list) and len(proba) == k:  # the model's whole distribution, capped like a vote
            priors[i] = np.clip(np.asarray(proba, dtype=np.float64), 1e-4, MAX_PRIOR)
        else:
            priors[i] = model_prior(None if pd.isna(label) else int(label), None if pd.isna(conf) else conf, k)
    priors /= priors.sum(axis=1, keepdims=True)
    workers = pd.Series(np.arange(frame["worker"].nunique()), index=np.sort(frame["worker"].unique()))
    position = pd.Series(np.arange(len(items)), index=items.index)
    post, confusions = fit_posteriors(
        position.loc[frame["task"]].to_numpy(),
        workers.loc[frame["worker"]].to_numpy(),
        frame["label"].map({label: j for j, label in enumerate(labels)}).to_numpy(dtype=np.intp),
        priors,
        len(workers),
        default_accuracy=DEFAULT_WORKER_ACCURACY,
        strength=SKILL_STRENGTH,
    )
    return post, workers, confusions


def item_posteriors(session: Session, job: Job, *, with_workers: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """The posterior of every answered, non-gold item: a frame indexed by item id with one column per label
    plus ``answers`` (human answers) and the routing counters; and the job's labels. With ``with_workers``,
    ``frame.attrs`` also holds ``"workers"`` (worker id → position) and ``"confusions"`` (their matrices)."""
    labels = job_labels(session, job)
    items = pd.DataFrame(
        session.execute(
            select(
                JobItem.item_id,
                JobItem.judgments_wanted,
                JobItem.judgments_accepted,
                JobItem.leases_active,
                JobItem.is_done,
                JobItem.model_label,
                JobItem.model_confidence,
                JobItem.model_proba,
                JobItem.is_gold,
                Item.gold_label,
            )
            .join(Item, Item.id == JobItem.item_id)
            .where(JobItem.job_id == job.id, JobItem.judgments_accepted > 0)
        ).all(),
        columns=[
            "item",
            "wanted",
            "accepted",
            "leases",
            "done",
            "model_label",
            "model_confidence",
            "model_proba",
            "gold",
            "label",
        ],
    ).set_index("item")
    gold = {int(i): labels.index(g) for i, g in items.loc[items["gold"], "label"].items() if g in labels}
    frame = _answers(session, job)
    frame = frame[frame["task"].isin(items.index) & frame["label"].isin(labels)]
    items = items[items.index.isin(frame["task"])]
    if frame.empty:
        post, workers, confusions = np.empty((0, len(labels))), pd.Series(dtype=np.int64), np.empty(0)
    else:
        post, workers, confusions = _posteriors(items, frame, labels, gold)
    result = pd.DataFrame(post, index=items.index, columns=labels)
    result["answers"] = frame.groupby("task").size().reindex(items.index).to_numpy()
    result = result.join(items[["wanted", "accepted", "leases", "done"]])
    result = result[~items["gold"].to_numpy(dtype=bool)]
    if with_workers:
        result.attrs["workers"], result.attrs["confusions"] = workers, confusions
    return result, labels


@dataclass(frozen=True)
class PosteriorLabels:
    """The posterior rule's labels (a job's final labels under it) and the worker skills behind them."""

    items: Any
    labels: Any
    confidence: Any
    answers: Any
    model: Any  #: has ``confusions_`` like a Dawid–Skene aggregator, for the worker-skill table
    skills: pd.Series[float]


def posterior_rule(job: Job) -> bool:
    """Whether the job runs dynamic redundancy under the ``posterior`` rule."""
    settings = consolidation_settings(job.settings)
    return settings.dynamic_redundancy and settings.rule == "posterior"


def posterior_consolidation(session: Session, job: Job) -> PosteriorLabels:
    """Every answered non-gold item's most probable label under the posterior, its probability and answer count;
    each worker's confusion matrix and accuracy (under the posterior's class shares)."""
    post, labels = item_posteriors(session, job, with_workers=True)
    probs = post[labels].to_numpy(dtype=np.float64)
    workers: pd.Series[Any] = post.attrs["workers"]
    confusions = np.asarray(post.attrs["confusions"], dtype=np.float64).reshape(len(workers), len(labels), len(labels))
    shares = probs.mean(axis=0) if len(probs) else np.full(len(labels), 1.0 / len(labels))
    index = pd.MultiIndex.from_product([workers.index, labels], names=["worker", "true_label"])

    class _Fitted:
        confusions_ = pd.DataFrame(confusions.reshape(-1, len(labels)), index=index, columns=labels)

    skills = pd.Series(np.einsum("t,wtt->w", shares, confusions), index=workers.index, dtype=np.float64)
    return PosteriorLabels(
        items=post.index.to_numpy(),
        labels=np.asarray(labels, dtype=object)[probs.argmax(axis=1)] if len(probs) else np.empty(0, dtype=object),
        confidence=probs.max(axis=1) if len(probs) else np.empty(0),
        answers=post["answers"].to_numpy(),
        model=_Fitted(),
        skills=skills,
    )


def review_redundancy(session: Session, job: Job) -> dict[str, Any]:
    """Reopen, for one more answer, every answered item still below the job's threshold (module docstring)."""
    settings = consolidation_settings(job.settings)
    if not posterior_rule(job):
        return {"job": job.name, "skipped": "the job does not use the posterior redundancy rule"}
    if job.state not in (JobState.RUNNING, JobState.PAUSED, JobState.COMPLETED):
        return {"job": job.name, "skipped": f"job is {job.state.value}"}
    marker = int(session.scalar(select(func.max(Judgment.id)).where(Judgment.job_id == job.id)) or 0)
    post, labels = item_posteriors(session, job)
    confidence = post[labels].max(axis=1) if len(post) else pd.Series(dtype=float)
    unsure = post[
        (confidence < settings.threshold)
        & post["done"]
        & (post["leases"] == 0)
        & (post["accepted"] == post["wanted"])
        & (post["accepted"] >= job.workers_per_item)
        & (post["wanted"] < job.max_workers_per_item)
    ].index.to_numpy()
    reopened = 0
    for start in range(0, len(unsure), _CHUNK):
        part = [int(i) for i in unsure[start : start + _CHUNK]]
        result = session.execute(
            update(JobItem)
            .where(JobItem.job_id == job.id, JobItem.item_id.in_(part), JobItem.is_done.is_(True))
            .values(judgments_wanted=JobItem.judgments_wanted + 1, is_done=False)
            .execution_options(synchronize_session=False)
        )
        reopened += int(getattr(result, "rowcount", 0) or 0)
    if reopened and job.state is JobState.COMPLETED:
        job.state, job.finished_at = JobState.RUNNING, None
    session.flush()
    return {
        "job": job.name,
        "items_reviewed": len(post),
        "items_reopened": reopened,
        "mean_confidence": float(confidence.mean()) if len(confidence) else None,
        "last_judgment": marker,
    }


def schedule_redundancy_reviews(session: Session, *, now: Any | None = None) -> int:
    """Queue a review for every running or completed posterior-rule job with answers since its last review."""
    now = now or utcnow()
    queued = 0
    jobs = session.scalars(
        select(Job).where(Job.state.in_([JobState.RUNNING, JobState.COMPLETED])).order_by(Job.id)
    ).all()
    for job in jobs:
        settings = job.settings or {}
        if not settings.get("dynamic_redundancy") or settings.get("redundancy_rule") != "posterior":
            continue
        waiting = session.scalar(
            select(
                exists().where(
                    Work.kind == REVIEW_WORK,
                    Work.job_id == job.id,
                    Work.state.in_([WorkState.QUEUED, WorkState.RUNNING]),
                )
            )
        )
        if waiting:
            continue
        last = session.scalar(
            select(Work.result)
            .where(Work.kind == REVIEW_WORK, Work.job_id == job.id, Work.state == WorkState.DONE)
            .order_by(Work.id.desc())
            .limit(1)
        )
        seen = int((last or {}).get("last_judgment", 0) or 0)
        newer = session.scalar(select(exists().where(Judgment.job_id == job.id, Judgment.id > seen)))
        if newer:
            session.add(Work(kind=REVIEW_WORK, job_id=job.id, payload={}, state=WorkState.QUEUED, run_after=now))
            queued += 1
    session.flush()
    return queued

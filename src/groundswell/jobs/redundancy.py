"""Dynamic redundancy's ``posterior`` rule: ask one more person only where the label is still unsure, weighing
each answer by its worker's skill and counting the auto-label model as one more voter.

Under ``redundancy_rule = "posterior"`` an item is done once it has the job's minimum of answers
(``workers_per_item``, typically 1). The background runner then reviews the answered items
(:func:`review_redundancy`, work kind :data:`REVIEW_WORK`) and reopens, one more answer at a time up to
``max_workers_per_item``, every item whose confidence is below ``redundancy_threshold``. The confidence is the
largest class probability of (:func:`groundswell.active.posterior`)

    prior(model vote) · Π_answers confusion_worker[:, answer]

* the **prior** is the model's vote stored on the item's ``job_items`` row by the last automated-labeling
  round before anyone started the item (``model_vote``: a model that had not seen the item's label; uniform
  without one, and for validation items, which stay the people's alone);
* the **confusion matrices** come from a Dawid–Skene fit over the job's answers in which the model's votes
  take part as one more annotator, so that a worker's skill is measured even on items only they answered;
  each is shrunk towards a symmetric matrix of :data:`DEFAULT_WORKER_ACCURACY` by :data:`SKILL_STRENGTH`
  pseudo-answers.

So with a threshold of 0.7, an average worker agreeing with a model that is 70 % sure settles a tweet, one
worker alone rarely does, and a disagreement asks for more.

Why in the runner rather than on every submit: the rule needs every answer's worker and their skill, which
the per-submit path does not read (it stays a few-row update). A reopened item is "started", so routing
serves it before fresh ones; a job that completed in the meantime runs again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from groundswell.active import model_prior, worker_confusion
from groundswell.consolidate import make_aggregator
from groundswell.domain import JobState, WorkState
from groundswell.jobs.job_settings import consolidation_settings
from groundswell.jobs.lifecycle import job_labels
from groundswell.store.tables import Job, JobItem, Judgment, Work, utcnow

__all__ = [
    "DEFAULT_WORKER_ACCURACY",
    "REVIEW_WORK",
    "SKILL_STRENGTH",
    "item_posteriors",
    "review_redundancy",
    "schedule_redundancy_reviews",
]

#: ``work.kind`` of a review; ``groundswell.runner`` runs it with :func:`review_redundancy`.
REVIEW_WORK = "redundancy_review"
#: Accuracy assumed for a worker the fit knows little about (a typical crowd worker on 3 classes).
DEFAULT_WORKER_ACCURACY = 0.7
#: Pseudo-answers of the default mixed into a fitted confusion matrix.
SKILL_STRENGTH = 10.0
#: Worker id the model's votes carry in the skill fit (real ids are positive).
_MODEL_WORKER = -1
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


def _confusions(frame: pd.DataFrame, votes: pd.DataFrame, labels: list[str]) -> dict[int, Any]:
    """Per worker, the shrunk confusion matrix from a Dawid–Skene fit with the model as one more annotator."""
    k = len(labels)
    workers = frame["worker"].unique()
    fitted: dict[int, Any] = {}
    model_rows = votes[votes["task"].isin(frame["task"])]
    both = pd.concat([frame, model_rows.assign(worker=_MODEL_WORKER)[["task", "worker", "label"]]])
    counts = frame.groupby("worker").size()
    if both["task"].duplicated().any():  # some overlap: a fit can tell workers apart
        model = make_aggregator("ds", labels=labels, random_state=0)
        model.fit(both)
        confusions = getattr(model, "confusions_", None)
        if confusions is not None:
            for w in workers:
                matrix = confusions.loc[w].reindex(index=labels, columns=labels).to_numpy(dtype=np.float64)
                fitted[int(w)] = matrix
    return {
        int(w): worker_confusion(
            k,
            confusion=fitted.get(int(w)),
            answers=int(counts.get(w, 0)),
            default_accuracy=DEFAULT_WORKER_ACCURACY,
            strength=SKILL_STRENGTH,
        )
        for w in workers
    }


def item_posteriors(session: Session, job: Job) -> tuple[pd.DataFrame, list[str]]:
    """The posterior of every answered, non-gold item: a frame indexed by item id with one column per label
    plus ``answers`` (human answers) and the routing counters; and the job's labels."""
    labels = job_labels(session, job)
    k = len(labels)
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
            ).where(JobItem.job_id == job.id, JobItem.is_gold.is_(False), JobItem.judgments_accepted > 0)
        ).all(),
        columns=["item", "wanted", "accepted", "leases", "done", "model_label", "model_confidence"],
    ).set_index("item")
    frame = _answers(session, job)
    frame = frame[frame["task"].isin(items.index) & frame["label"].isin(labels)]
    voted = items[items["model_label"].notna()]
    votes = pd.DataFrame(
        {"task": voted.index, "label": [labels[int(c)] for c in voted["model_label"] if 0 <= int(c) < k]}
        if len(voted)
        else {"task": [], "label": []}
    )
    confusions = _confusions(frame, votes, labels) if len(frame) else {}
    log_post = np.zeros((len(items), k))
    position = pd.Series(np.arange(len(items)), index=items.index)
    for i, (label, conf) in enumerate(zip(items["model_label"], items["model_confidence"], strict=True)):
        vote = None if pd.isna(label) else int(label)
        log_post[i] = np.log(model_prior(vote, None if pd.isna(conf) else float(conf), k))
    if len(frame):
        answer = frame["label"].map({label: j for j, label in enumerate(labels)}).to_numpy(dtype=np.intp)
        columns = np.stack([confusions[int(w)][:, a] for w, a in zip(frame["worker"], answer, strict=True)])
        np.add.at(log_post, position.loc[frame["task"]].to_numpy(), np.log(np.clip(columns, 1e-12, None)))
    post = np.exp(log_post - log_post.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    result = pd.DataFrame(post, index=items.index, columns=labels)
    return result.join(items[["wanted", "accepted", "leases", "done"]]), labels


def review_redundancy(session: Session, job: Job) -> dict[str, Any]:
    """Reopen, for one more answer, every answered item still below the job's threshold (module docstring)."""
    settings = consolidation_settings(job.settings)
    if not settings.dynamic_redundancy or settings.rule != "posterior":
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

"""The job's posterior: Dawid–Skene with the auto-label model's vote as each tweet's prior.

Jobs under dynamic redundancy's ``posterior`` or ``target`` rule take their final labels, their reviews and
their accuracy estimate from one fit of :class:`groundswell.consolidate.PriorDawidSkene` on the job's
current answers (:mod:`groundswell.jobs.answers`), with gold items as known labels and, as the prior of
each tweet, the model's calibrated distribution stored by the last automated-labeling round before anyone
started it (``job_items.model_proba``, or its top class and probability; a model that had not seen the
tweet's label). Tweets without a vote get the job's class shares. Worker confusions, their shrinkage toward
the crowd, the class shares and the model's temperature are all estimated by that fit: nothing here assumes
a crowd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from groundswell.consolidate import PriorDawidSkene, expected_confusion
from groundswell.consolidate.prior_dawid_skene import MAX_PRIOR
from groundswell.jobs.answers import gold_labels, judgments_frame
from groundswell.jobs.job_settings import consolidation_settings
from groundswell.jobs.lifecycle import job_labels
from groundswell.store.tables import Job, JobItem

__all__ = [
    "POSTERIOR_METHOD",
    "JobPosterior",
    "PosteriorInputs",
    "fit_job_posterior",
    "fit_posterior",
    "job_priors",
    "posterior_rule",
    "read_posterior_inputs",
]

#: ``consolidated_labels.method`` of labels taken from the posterior.
POSTERIOR_METHOD = "posterior"


def posterior_rule(job: Job) -> bool:
    """Whether the job's labels come from the posterior (dynamic redundancy's ``posterior`` or ``target``)."""
    settings = consolidation_settings(job.settings)
    return settings.dynamic_redundancy and settings.rule in ("posterior", "target")


def job_priors(session: Session, job: Job, labels: list[str]) -> pd.DataFrame:
    """The model's vote as a prior per item that has one: DataFrame item id × label."""
    rows = session.execute(
        select(JobItem.item_id, JobItem.model_label, JobItem.model_confidence, JobItem.model_proba).where(
            JobItem.job_id == job.id, JobItem.model_label.is_not(None)
        )
    ).all()
    k = len(labels)
    ids = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
    top = np.fromiter((-1 if r[1] is None else int(r[1]) for r in rows), dtype=np.int64, count=len(rows))
    confidence = np.fromiter((np.nan if r[2] is None else float(r[2]) for r in rows), dtype=np.float64, count=len(rows))
    # A bare vote (class and probability, no distribution): its probability on its class, the rest spread evenly
    # (vote_prior's rule, for all rows at once); then the stored distributions where there are any.
    valid = (top >= 0) & (top < k) & np.isfinite(confidence)
    peak = np.clip(np.where(valid, confidence, 1.0 / k), 1.0 / k, MAX_PRIOR)
    priors = np.repeat(((1.0 - peak) / (k - 1))[:, None], k, axis=1)
    priors[np.flatnonzero(valid), top[valid]] = peak[valid]
    priors[~valid] = 1.0 / k
    for position, row in enumerate(rows):
        proba = row[3]
        if isinstance(proba, list) and len(proba) == k:
            priors[position] = proba
    return pd.DataFrame(priors.reshape(-1, k), index=pd.Index(ids, name="task"), columns=labels)


@dataclass(frozen=True)
class JobPosterior:
    """One fit of the job's posterior.

    Attributes:
        model: The fitted aggregator (``probas_``, ``labels_``, ``confidence_`` over non-gold answered items,
            ``confusions_``, ``skills_``, ``shares_``, ``temperature_``, ``gold_probas_``).
        labels: The job's labels.
        answers: The current answers it was fitted on (``task, worker, label``).
        gold: Gold labels used (item id → label).
    """

    model: PriorDawidSkene
    labels: list[str]
    answers: pd.DataFrame
    gold: pd.Series[Any]

    def next_answer_confusion(self) -> Any:
        """The confusion of the next answer: workers' matrices weighted by how many answers each gave."""
        k = len(self.labels)
        mats = self.model.confusions_.to_numpy(dtype=np.float64).reshape(-1, k, k)
        return expected_confusion(mats, self.model.answers_per_worker_.to_numpy(dtype=np.float64))


@dataclass(frozen=True)
class PosteriorInputs:
    """What a fit of the posterior reads from the store, so that the fit itself runs with no transaction open
    (the runner reads in a short read-only transaction, fits, then writes: ``runner.staged``)."""

    labels: list[str]
    answers: pd.DataFrame
    gold: pd.Series[Any]
    priors: pd.DataFrame


def read_posterior_inputs(session: Session, job: Job, *, answers: pd.DataFrame | None = None) -> PosteriorInputs | None:
    """The job's current answers, gold labels and model votes (``None`` when nobody answered yet)."""
    labels = job_labels(session, job)
    frame = judgments_frame(session, job) if answers is None else answers
    frame = frame[frame["label"].isin(labels)]
    if frame.empty:
        return None
    _, gold = gold_labels(session, job, labels)
    gold = gold.loc[gold.index.isin(frame["task"])]
    return PosteriorInputs(labels=labels, answers=frame, gold=gold, priors=job_priors(session, job, labels))


def fit_posterior(inputs: PosteriorInputs, *, random_state: int = 0) -> JobPosterior:
    """Fit the posterior on what :func:`read_posterior_inputs` read; touches no database."""
    model = PriorDawidSkene(labels=inputs.labels, random_state=random_state)
    model.fit(inputs.answers, inputs.gold if len(inputs.gold) else None, priors=inputs.priors)
    return JobPosterior(model=model, labels=inputs.labels, answers=inputs.answers, gold=inputs.gold)


def fit_job_posterior(
    session: Session, job: Job, *, answers: pd.DataFrame | None = None, random_state: int = 0
) -> JobPosterior | None:
    """Fit the posterior on the job's current answers (``None`` when nobody answered yet)."""
    inputs = read_posterior_inputs(session, job, answers=answers)
    return None if inputs is None else fit_posterior(inputs, random_state=random_state)

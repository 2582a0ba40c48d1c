"""What an automated-labeling round knows of the job's items, read in one step and scored in another.

Split from :mod:`groundswell.jobs.autolabel` so that the runner reads in a short read-only transaction and
fits (the job's posterior, on posterior-rule jobs) with no transaction open (``runner.staged``):
:func:`read_items` only reads, :func:`item_scores` touches no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from groundswell.jobs.posterior import PosteriorInputs, fit_posterior, posterior_rule, read_posterior_inputs
from groundswell.store.tables import ConsolidatedLabel, Item, Job, JobItem

__all__ = ["ItemsRead", "item_scores", "read_items"]

#: ``consolidated_labels.method`` values whose confidence is a vote share, not a probability (the same set as
#: ``groundswell.jobs.consolidation``'s one-worker rule).
_VOTE_SHARE_METHODS = frozenset({"mv", "wmv"})


@dataclass(frozen=True)
class ItemsRead:
    """The job's non-gold items as read: ids in id order, texts, human label index (−1: none yet), whether
    each is open, how sure each human label is, and (posterior-rule jobs with human labels) the posterior's
    inputs."""

    ids: Any
    texts: list[str]
    human: Any
    open: Any
    sure: Any
    labels: list[str]
    posterior: PosteriorInputs | None


def read_items(session: Session, job: Job, labels: list[str]) -> ItemsRead:
    """Read the job's items for a round (:class:`ItemsRead`; the scoring is :func:`item_scores`).

    Only model-based consolidations (Dawid–Skene, the posterior rule) store a probability; a vote share is not
    one (and a single vote stores 0.0, Ground Truth's "no agreement to report"), so those labels count as
    sure, as they did before soft hits.
    """
    rows = session.execute(
        select(
            Item.id,
            Item.text,
            JobItem.is_done,
            JobItem.started,
            ConsolidatedLabel.class_index,
            ConsolidatedLabel.human_annotated,
            ConsolidatedLabel.confidence,
            ConsolidatedLabel.method,
        )
        .join(JobItem, (JobItem.item_id == Item.id) & (JobItem.job_id == job.id))
        .outerjoin(ConsolidatedLabel, (ConsolidatedLabel.item_id == Item.id) & (ConsolidatedLabel.job_id == job.id))
        .where(~JobItem.is_gold)
        .order_by(Item.id)
    ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    human = np.array(
        [r[4] if (r[5] and r[2] and r[4] is not None and r[4] < len(labels)) else -1 for r in rows], dtype=np.int64
    )
    is_open = np.array([not r[2] and not r[3] and r[4] is None for r in rows], dtype=bool)
    sure = np.array(
        [
            float(np.clip(r[6], 0.0, 1.0))
            if h >= 0 and r[6] is not None and r[7] not in _VOTE_SHARE_METHODS and np.isfinite(r[6])
            else 1.0
            for r, h in zip(rows, human, strict=True)
        ],
        dtype=np.float64,
    )
    posterior = read_posterior_inputs(session, job) if posterior_rule(job) and (human >= 0).any() else None
    return ItemsRead(ids, [r[1] for r in rows], human, is_open, sure, labels, posterior)


def item_scores(read: ItemsRead) -> dict[str, Any]:
    """``ids, texts, human, open, sure`` for the round; on posterior-rule jobs ``sure`` is, per item, what
    people alone say of it (a row per item), from a fit of the posterior."""
    ids, human, sure, labels = read.ids, read.human, read.sure, read.labels
    posterior = fit_posterior(read.posterior) if read.posterior is not None else None
    if posterior is not None:
        # What people alone say of each labeled tweet (the posterior without the model's vote), so that a
        # held-out prediction is scored by P(true = prediction | answers) (active.threshold.soft_hits). The
        # posterior *with* the vote would let a model like the one scored vouch for itself: on simulated crowds
        # its machine labels then fell 2-3 points short of the target. Without it the score understates a good
        # model, so certification errs on the safe side.
        k = len(labels)
        rows_out = np.full((len(ids), k), 1.0 / k)
        labeled = human >= 0
        rows_out[labeled] = (1.0 - sure[labeled, None]) / (k - 1)
        rows_out[labeled, human[labeled]] = sure[labeled]
        probas = posterior.model.answer_probas_.reindex(columns=labels)
        where = probas.index.get_indexer(pd.Index(ids))
        found = (where >= 0) & labeled
        rows_out[found] = probas.to_numpy(dtype=np.float64)[where[found]]
        _score_single_answers_by_agreement(rows_out, ids, posterior.answers, labels)
        return {"ids": ids, "texts": read.texts, "human": human, "open": read.open, "sure": rows_out}
    return {"ids": ids, "texts": read.texts, "human": human, "open": read.open, "sure": sure}


def _score_single_answers_by_agreement(rows: Any, ids: Any, answers: pd.DataFrame, labels: list[str]) -> None:
    """Score a held-out prediction on a tweet with one answer by agreeing with that answer, not by the posterior.

    What the posterior says of a one-answer tweet rests on the worker confusions it estimated, and with one
    answer per tweet those are not identified: nothing separates a wrong worker from a rare class. On a weak
    crowd early in a job (10,000 tweets, pool of mean accuracy 0.56, 833 answers, all on different tweets) the
    posterior vouched for predictions that were right 29 % of the time, and 9,166 tweets were machine-labeled
    against a 0.60 target. Agreement with the answer given is observable and errs low (a worker's mistake counts
    against a right prediction), so certification waits for tweets with more than one answer, or gold, to
    score the rest by.
    """
    counts = answers.groupby("task")["label"].agg(["size", "first"])
    single = counts[counts["size"] == 1]
    position = pd.Index(ids).get_indexer(single.index)
    index = {label: i for i, label in enumerate(labels)}
    keep = (position >= 0) & single["first"].isin(index).to_numpy()
    rows[position[keep]] = 0.0
    rows[position[keep], single["first"][keep].map(index).to_numpy(dtype=np.int64)] = 1.0

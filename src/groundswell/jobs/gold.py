"""Gold tweets in a job: test questions whose label is known, to check the crowd and the job's estimate.

A job created with ``gold_items = N`` (``job create --gold-items N``) draws N of its items at random among
those whose dataset row has a gold label in the job's labels. Annotators cannot tell them from the others:
they are routed, answered, reviewed and reopened by the same rules, and get the model's vote like any tweet.
Their gold label never reaches the posterior's own estimate of them (``PriorDawidSkene.gold_probas_``), so
the share of gold tweets the job gets right, against the confidence it claimed, measures the job's
calibration on a random sample of its own tweets: the accuracy estimate is corrected by that gap
(:func:`groundswell.active.estimate_accuracy`). Why random and treated alike: any other choice (gold tweets
asked more, or picked among the easy ones) would measure a different process than the one labeling the rest.

Gold tweets get no consolidated label and are left out of exports, training and the job's accuracy.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from groundswell.active import apply_temperature
from groundswell.errors import InvalidInputError
from groundswell.store.tables import Item, Job, JobItem

__all__ = ["mark_gold_items", "write_gold_votes"]

_CHUNK = 5000


def mark_gold_items(session: Session, job: Job, count: int, labels: list[str]) -> int:
    """Mark ``count`` random items of the new ``job`` as gold (seeded by the job's name, so it is repeatable);
    refuses a count the dataset cannot supply, naming how many it can."""
    if count <= 0:
        return 0
    candidates = session.scalars(
        select(JobItem.item_id)
        .join(Item, Item.id == JobItem.item_id)
        .where(JobItem.job_id == job.id, Item.gold_label.in_(labels))
        .order_by(JobItem.item_id)
    ).all()
    total = int(session.scalar(select(func.count()).where(JobItem.job_id == job.id)) or 0)
    if count > len(candidates):
        raise InvalidInputError(
            f"gold_items (--gold-items) {count}: the dataset has {len(candidates)} item(s) whose gold label is one "
            f"of the job's labels {labels}; import the dataset with --label-column, or ask for fewer"
        )
    if count * 2 > total:
        raise InvalidInputError(
            f"gold_items (--gold-items) {count}: at most half of the job's {total} items may be gold"
        )
    rng = np.random.default_rng(zlib.crc32(job.name_key.encode("utf-8")))
    chosen = sorted(int(i) for i in rng.choice(np.asarray(candidates, dtype=np.int64), size=count, replace=False))
    for start in range(0, len(chosen), _CHUNK):
        session.execute(
            update(JobItem)
            .where(JobItem.job_id == job.id, JobItem.item_id.in_(chosen[start : start + _CHUNK]))
            .values(is_gold=True)
            .execution_options(synchronize_session=False)
        )
    return count


def write_gold_votes(session: Session, job: Job, estimator: Any, temperature: float, n_classes: int) -> int:
    """Give every gold item the round model's calibrated vote (it never trains on gold labels), refreshed each
    round as the labeled items' held-out votes are, so a gold tweet's prior is drawn like any other's."""
    rows = session.execute(
        select(JobItem.item_id, Item.text)
        .join(Item, Item.id == JobItem.item_id)
        .where(JobItem.job_id == job.id, JobItem.is_gold)
        .order_by(JobItem.item_id)
    ).all()
    if not rows or estimator is None:
        return 0
    raw = estimator.predict_proba([text for _, text in rows])
    full = np.full((len(rows), n_classes), 1e-12)  # a class the round never saw gets no probability
    full[:, np.asarray(estimator.classes_, dtype=np.intp)] = raw
    proba = apply_temperature(full, temperature)
    updates = [
        {
            "job_id": job.id,
            "item_id": int(item_id),
            "model_label": int(np.argmax(row)),
            "model_confidence": float(np.max(row)),
            "model_proba": [round(float(x), 5) for x in row],
        }
        for (item_id, _), row in zip(rows, proba, strict=True)
    ]
    for start in range(0, len(updates), _CHUNK):
        session.execute(update(JobItem), updates[start : start + _CHUNK])
    return len(updates)

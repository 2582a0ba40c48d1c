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
from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from groundswell.active import apply_temperature
from groundswell.errors import InvalidInputError
from groundswell.store.tables import Item, Job, JobItem

__all__ = ["calibrated_proba", "gold_items_of", "gold_texts", "mark_gold_items", "refresh_gold_items"]

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


def refresh_gold_items(
    session: Session,
    job: Job,
    open_priorities: Any,
    *,
    estimator: Any | None,
    temperature: float | None,
    n_classes: int,
    random_state: int = 0,
    votes: Mapping[int, Any] | None = None,
) -> int:
    """After an automated-labeling round: give every gold item the round model's calibrated vote (it never
    trains on gold labels; refreshed each round as the labeled items' held-out votes are), and give the gold
    items nobody has started a routing priority drawn at random from the open items' (``open_priorities``), so
    gold tweets are served at the pace of the rest, not all at the end. Returns how many gold items it saw.

    ``votes`` (item id → calibrated distribution, computed beforehand from :func:`gold_texts` with no
    transaction open) replaces ``estimator`` and ``temperature``: the runner predicts outside its short write
    transaction."""
    rows = session.execute(
        select(JobItem.item_id, Item.text, JobItem.started, JobItem.is_done)
        .join(Item, Item.id == JobItem.item_id)
        .where(JobItem.job_id == job.id, JobItem.is_gold)
        .order_by(JobItem.item_id)
    ).all()
    if not rows:
        return 0
    updates: list[dict[str, Any]] = [{"job_id": job.id, "item_id": int(row[0])} for row in rows]
    pool = np.asarray(open_priorities, dtype=np.float64)
    if len(pool):
        draws = np.random.default_rng(random_state).choice(pool, size=len(rows))
        for update_row, row, draw in zip(updates, rows, draws, strict=True):
            if not row[2] and not row[3]:  # neither started nor done
                update_row["priority"] = float(draw)
    probas: list[Any] | None = None
    if votes is not None:
        probas = [votes.get(int(row[0])) for row in rows]
    elif estimator is not None and temperature is not None:
        probas = list(calibrated_proba(estimator, [row[1] for row in rows], temperature, n_classes))
    for update_row, proba in zip(updates, probas if probas is not None else [None] * len(rows), strict=True):
        if proba is not None:
            update_row["model_label"] = int(np.argmax(proba))
            update_row["model_confidence"] = float(np.max(proba))
            update_row["model_proba"] = [round(float(x), 5) for x in proba]
    updates = [row for row in updates if len(row) > 2]
    for start in range(0, len(updates), _CHUNK):
        session.execute(update(JobItem), updates[start : start + _CHUNK])
    return len(rows)


def gold_texts(session: Session, job: Job) -> list[tuple[int, str]]:
    """``(item id, text)`` of the job's gold items in id order: what a round's votes for them are computed from."""
    rows = session.execute(
        select(JobItem.item_id, Item.text)
        .join(Item, Item.id == JobItem.item_id)
        .where(JobItem.job_id == job.id, JobItem.is_gold)
        .order_by(JobItem.item_id)
    ).all()
    return [(int(r[0]), str(r[1])) for r in rows]


def calibrated_proba(estimator: Any, texts: list[str], temperature: float, n_classes: int) -> Any:
    """A round model's calibrated distribution per text, over all ``n_classes`` (a class the round never saw
    gets no probability)."""
    full = np.full((len(texts), n_classes), 1e-12)
    if texts:
        full[:, np.asarray(estimator.classes_, dtype=np.intp)] = estimator.predict_proba(texts)
    return apply_temperature(full, temperature)


def gold_items_of(session: Session, job: Job, labels: list[str]) -> tuple[list[str], Any]:
    """The texts of the job's gold items and their gold classes (indices into ``labels``)."""
    rows = session.execute(
        select(Item.text, Item.gold_label)
        .join(JobItem, JobItem.item_id == Item.id)
        .where(JobItem.job_id == job.id, JobItem.is_gold, Item.gold_label.in_(labels))
        .order_by(JobItem.item_id)
    ).all()
    index = {label: i for i, label in enumerate(labels)}
    return [str(r[0]) for r in rows], np.asarray([index[str(r[1])] for r in rows], dtype=np.int64)

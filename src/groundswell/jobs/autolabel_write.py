"""The writes of an automated-labeling round (split from :mod:`groundswell.jobs.autolabel`, which decides
them): machine labels, routing priorities and model votes, held-out votes, the round's model artifact.

The runner computes a round with no transaction open and writes it in a short one afterwards
(``runner.staged``), so each write here applies only what still holds then: machine labels only to items
nobody has started, priorities and votes only to items still open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import exists, insert, select, update
from sqlalchemy.orm import Session

from groundswell.store.tables import ConsolidatedLabel, Job, JobItem, utcnow

__all__ = ["model_votes", "save_round_model", "write_held_out_votes", "write_machine_labels", "write_priorities"]

#: ``consolidated_labels.method`` of a machine label.
AUTO_LABEL_METHOD = "auto-label"
_CHUNK = 5000


def save_round_model(folder: Path, job_name: str, labels: list[str], result: Any, metrics: dict[str, Any]) -> str:
    """Write the round's model as a skops artifact with its card; returns the folder's absolute path."""
    from groundswell.ml import ModelCard, package_versions, save_model

    card = ModelCard(
        model_type="tfidf-linear",
        labels=list(labels),
        metrics={"validation": metrics},
        training_size=result.train_size,
        validation_size=result.validation_size,
        job_name=f"labeling-job/{job_name}",
        params={"temperature": result.temperature, "purpose": "auto-label", "round": metrics["round"]},
        package_versions=package_versions(),
        source=f"job {job_name}, automated-labeling round {metrics['round']}",
    )
    return str(save_model(folder, result.estimator, card).resolve())


def write_machine_labels(
    session: Session, job: Job, ids: Any, result: Any, labels: list[str], model_id: int | None
) -> list[int]:
    """Close the chosen items that are still untouched, and label exactly those; returns their ids."""
    chosen = {
        int(ids[p]): (int(c), float(conf))
        for p, c, conf in zip(result.machine_items, result.machine_labels, result.machine_confidence, strict=True)
    }
    closed: list[int] = []
    keys = sorted(chosen)
    for start in range(0, len(keys), _CHUNK):
        part = keys[start : start + _CHUNK]
        closed += session.scalars(
            update(JobItem)
            .where(
                JobItem.job_id == job.id,
                JobItem.item_id.in_(part),
                JobItem.is_done.is_(False),
                JobItem.started.is_(False),
                # Never over a label already there (an admin's correction above all: jobs.adjudication); the
                # insert below would clash with it.
                ~exists().where(
                    ConsolidatedLabel.job_id == JobItem.job_id, ConsolidatedLabel.item_id == JobItem.item_id
                ),
            )
            .values(is_done=True)
            .returning(JobItem.item_id)
        ).all()
    now = utcnow()
    rows = [
        {
            "job_id": job.id,
            "item_id": item_id,
            "label": labels[chosen[item_id][0]],
            "class_index": chosen[item_id][0],
            "confidence": chosen[item_id][1],
            "method": AUTO_LABEL_METHOD,
            "human_annotated": False,
            "judgment_count": 0,
            "model_version_id": model_id,
            "updated_at": now,
        }
        for item_id in sorted(closed)
    ]
    for start in range(0, len(rows), _CHUNK):
        session.execute(insert(ConsolidatedLabel), rows[start : start + _CHUNK])
    return sorted(closed)


def model_votes(result: Any, n: int) -> list[tuple[int | None, float | None, list[float] | None]]:
    """The model's vote per position: (class, calibrated probability, every class's probability),
    ``(None, None, None)`` for validation items (their labels must stay the people's alone, or the next
    threshold would be checked against the model's own votes) and before there is a model."""
    if result.predicted is None or result.proba is None:
        return [(None, None, None)] * n
    return [
        (None, None, None) if held_out else (int(c), float(p), [round(float(x), 5) for x in row])
        for c, p, row, held_out in zip(
            result.predicted, result.confidence, result.proba, result.is_validation, strict=True
        )
    ]


def write_held_out_votes(session: Session, job: Job, ids: Any, result: Any) -> None:
    """Give every human-labeled item the vote of the cross-fitted model that never saw its label.

    An item keeps the vote it was started with only until a round has a held-out prediction for it: that one
    comes from a model trained on more labels (the seed sample, started before any model, gets its first vote
    here), and it is as free of the item's own label as the first, so the posterior may use it as the prior.
    """
    if result.held_out_items is None or result.held_out_proba is None or not len(result.held_out_items):
        return
    rows = [
        {
            "job_id": job.id,
            "item_id": int(ids[position]),
            "model_label": int(np.argmax(row)),
            "model_confidence": float(np.max(row)),
            "model_proba": [round(float(x), 5) for x in row],
        }
        for position, row in zip(result.held_out_items, result.held_out_proba, strict=True)
    ]
    for start in range(0, len(rows), _CHUNK):
        session.execute(update(JobItem), rows[start : start + _CHUNK])


def write_priorities(
    session: Session,
    job: Job,
    ids: Any,
    is_open: Any,
    priority: Any,
    skip: set[int],
    votes: list[tuple[int | None, float | None, list[float] | None]] | None = None,
) -> None:
    """Bulk update (by primary key) of ``job_items.priority`` and, with ``votes``, the model's vote, for the
    open items left to people. Started items keep the vote they were started with: an item open when the
    round read it but started (or done) since, while the round computed, is left alone."""
    touched = set(
        session.scalars(
            select(JobItem.item_id).where(JobItem.job_id == job.id, JobItem.started | JobItem.is_done)
        ).all()
    )
    rows: list[dict[str, Any]] = []
    for position, (item_id, still_open, p) in enumerate(zip(ids, is_open, priority, strict=True)):
        if not still_open or int(item_id) in skip or int(item_id) in touched:
            continue
        row: dict[str, Any] = {"job_id": job.id, "item_id": int(item_id), "priority": float(p)}
        if votes is not None:
            row["model_label"], row["model_confidence"], row["model_proba"] = votes[position]
        rows.append(row)
    for start in range(0, len(rows), _CHUNK):
        session.execute(update(JobItem), rows[start : start + _CHUNK])

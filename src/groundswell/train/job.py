"""Training data from a labeling job in the store, and the ``model_versions`` row a training run leaves.

Why both human and machine labels by default: after auto-labeling rounds most of a job's labels are
machine labels that already met the job's accuracy target, and a model trained on all of them sees far
more of the data. ``human_only`` restricts to consolidated human judgments when that matters more, and
``weight_by_confidence`` lets an uncertain consolidation count for less.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from groundswell.errors import InvalidInputError, NotFoundError
from groundswell.store.db import transaction
from groundswell.store.tables import ConsolidatedLabel, Item, Job, LabelSchema, ModelVersion
from groundswell.train.data import TrainingData
from groundswell.train.trainer import TrainResult

__all__ = ["find_job", "job_training_data", "record_model_version"]


def find_job(session: Session, job: str | int) -> Job:
    """A job by id (an int, or a string of digits) or by name (case-insensitive, as Ground Truth does)."""
    found: Job | None
    if isinstance(job, int) or job.isdigit():
        found = session.get(Job, int(job))
        if found is None and isinstance(job, str):
            found = session.scalar(select(Job).where(Job.name_key == job.lower()))
    else:
        found = session.scalar(select(Job).where(Job.name_key == job.lower()))
    if found is None:
        raise NotFoundError(f"no labeling job {job!r}; `groundswell job list` shows the jobs")
    return found


def job_training_data(
    factory: sessionmaker[Session],
    job: str | int,
    *,
    human_only: bool = False,
    weight_by_confidence: bool = False,
) -> tuple[int, TrainingData]:
    """The job's id and its consolidated labels as training data, in item order (so the hash is stable)."""
    with factory() as session:
        return job_training_data_in(session, job, human_only=human_only, weight_by_confidence=weight_by_confidence)


def job_training_data_in(
    session: Session, job: str | int, *, human_only: bool = False, weight_by_confidence: bool = False
) -> tuple[int, TrainingData]:
    """:func:`job_training_data` within a session the caller holds."""
    found = find_job(session, job)
    schema = session.get(LabelSchema, found.label_schema_id)
    labels = [str(x) for x in (schema.labels if schema is not None else [])]
    query = (
        select(Item.text, ConsolidatedLabel.class_index, ConsolidatedLabel.label, ConsolidatedLabel.confidence)
        .join(Item, Item.id == ConsolidatedLabel.item_id)
        .where(ConsolidatedLabel.job_id == found.id)
        .order_by(ConsolidatedLabel.item_id)
    )
    if human_only:
        query = query.where(ConsolidatedLabel.human_annotated.is_(True))
    rows = session.execute(query).all()
    job_id, job_name, attribute = found.id, found.name, found.label_attribute_name
    if not rows:
        which = "human-consolidated" if human_only else "consolidated"
        raise InvalidInputError(f"job {job_name!r} has no {which} labels yet; consolidate the job's judgments first")
    texts: list[str] = []
    targets: list[int] = []
    weights: list[float] = []
    for text, class_index, label, confidence in rows:
        if not 0 <= class_index < len(labels) or labels[class_index] != label:
            raise InvalidInputError(
                f"job {job_name!r}: consolidated label {label!r} (class index {class_index}) does not match the "
                f"job's label schema {labels}"
            )
        texts.append(text)
        targets.append(int(class_index))
        weights.append(float(confidence))
    data = TrainingData(
        texts=texts,
        targets=targets,
        labels=labels,
        weights=weights if weight_by_confidence else None,
        source=f"job {job_name}",
        label_attribute_name=attribute,
        job_name=f"labeling-job/{job_name.lower()}",
    )
    data.check()
    return job_id, data


def record_model_version(
    factory: sessionmaker[Session], result: TrainResult, *, job_id: int | None, purpose: str = "trained"
) -> int:
    """Insert the ``model_versions`` row for a written artifact; returns its id."""
    card = result.card
    metrics: dict[str, Any] = dict(card.metrics)
    with transaction(factory) as session:
        row = ModelVersion(
            job_id=job_id,
            purpose=purpose,
            model_type=card.model_type,
            artifact_uri=str(result.directory.resolve()),
            labels=list(card.labels),
            metrics=metrics,
            training_data_hash=card.training_data_hash,
            training_size=card.training_size,
        )
        session.add(row)
        session.flush()
        return int(row.id)

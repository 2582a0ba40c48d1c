"""Training from a job as background work: what ``POST /api/v1/jobs/{name}/models`` asks the runner for.

``groundswell train --job`` trains in the terminal; from the API (and the console) a training run would hold a
web worker for minutes, so it is queued (work kind ``train``) and the runner trains with no transaction open
(``runner.staged``): read the job's consolidated labels, fit, save under ``<data dir>/models/trained/<name>``,
then record the ``model_versions`` row (purpose ``trained``) that lists it with its card's metrics.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from groundswell.errors import InvalidInputError, NotFoundError
from groundswell.ml import MODEL_TYPES, ModelConfig, read_card
from groundswell.store.queue import enqueue
from groundswell.store.tables import Job, ModelVersion, Work
from groundswell.train.data import TrainingData
from groundswell.train.job import job_training_data_in
from groundswell.train.trainer import TrainResult, train_model

__all__ = [
    "TRAIN_WORK",
    "TrainPlan",
    "compute_training",
    "model_card",
    "model_version",
    "read_training",
    "request_training",
    "write_training",
]

TRAIN_WORK = "train"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def request_training(session: Session, job: Job, *, name: str | None = None, model_type: str = "tfidf-linear") -> Work:
    """Queue a training run on the job's consolidated labels; the runner writes ``models/trained/<name>``."""
    if model_type not in MODEL_TYPES:
        raise InvalidInputError(f"model_type must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}")
    name = name or f"{job.name.lower()}-{model_type}"
    if not _NAME.match(name):
        raise InvalidInputError(f"model name {name!r}: use 1–63 letters, digits, '.', '_' or '-', starting with one")
    return enqueue(session, TRAIN_WORK, job_id=job.id, payload={"name": name, "model_type": model_type}, dedupe=False)


@dataclass(frozen=True)
class TrainPlan:
    job_id: int
    data: TrainingData
    model_type: str
    folder: Path


def read_training(session: Session, work: Work, artifact_dir: Path | None) -> TrainPlan:
    """The runner's read step: the job's consolidated labels and where the model goes."""
    if work.job_id is None:
        raise InvalidInputError(f"work {work.id}: a training run names its job")
    job_id, data = job_training_data_in(session, work.job_id)
    root = artifact_dir if artifact_dir is not None else Path("groundswell-data") / "models"
    return TrainPlan(job_id, data, str(work.payload["model_type"]), root / "trained" / str(work.payload["name"]))


def compute_training(plan: TrainPlan) -> TrainResult:
    """Fit, score, calibrate, refit and save (``train.train_model``), with no transaction open."""
    return train_model(plan.data, plan.folder, config=ModelConfig(model_type=plan.model_type))


def write_training(session: Session, work: Work, result: TrainResult) -> dict[str, Any]:
    """Record the trained model (purpose ``trained``); the work row's result names it."""
    card = result.card
    row = ModelVersion(
        job_id=work.job_id,
        purpose="trained",
        model_type=card.model_type,
        artifact_uri=str(result.directory.resolve()),
        labels=list(card.labels),
        metrics=dict(card.metrics),
        training_data_hash=card.training_data_hash,
        training_size=card.training_size,
    )
    session.add(row)
    session.flush()
    return {"model_version_id": int(row.id), "artifact_uri": row.artifact_uri, "metrics": dict(card.metrics)}


def model_version(session: Session, version_id: int) -> ModelVersion:
    """One ``model_versions`` row, or ``NotFoundError``."""
    row = session.get(ModelVersion, version_id)
    if row is None:
        raise NotFoundError(f"no model version {version_id}")
    return row


def model_card(row: ModelVersion) -> dict[str, Any] | None:
    """The version's model card as stored beside it, or ``None`` when its files are gone."""
    try:
        card = read_card(row.artifact_uri)
    except (NotFoundError, InvalidInputError):
        return None
    return dict(json.loads(card.to_json()))

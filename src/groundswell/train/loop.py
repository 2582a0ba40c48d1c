"""The model in the loop, its second half: retrain on a job's labels as they grow, promote only what is not
worse, keep every version, restore any.

A job with a model loop (``groundswell job model-loop JOB --out MODEL_DIR --every N``; stored as
``settings["model_loop"]``) is retrained by the runner each time its human labels grew by N since the last
candidate. A candidate trains on the job's human-consolidated labels *outside* a fixed held-out set: a
tweet is held out when a digest of its text falls below 20 %, so the set only grows as labels arrive and
never changes its mind about a tweet. The candidate and the model now in MODEL_DIR are scored on the same
held-out tweets (macro-recall); the candidate is promoted (copied into MODEL_DIR, its card last, which is
what ``endpoint serve`` watches to swap without downtime) only if it is not worse. Every candidate is a
``model_versions`` row (purpose ``loop``) with which labels trained it (count and data hash), both scores
and who promoted it; ``job models JOB --restore ID`` puts a kept version back in MODEL_DIR, recorded the same
way.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from groundswell.domain import WorkState
from groundswell.errors import ConflictError, InvalidInputError, NotFoundError
from groundswell.ml import CARD_FILE, load_model, predict_proba_full
from groundswell.ml.metrics import evaluate
from groundswell.store.db import transaction
from groundswell.store.queue import enqueue
from groundswell.store.tables import ConsolidatedLabel, Job, JobItem, ModelVersion, Work, utcnow
from groundswell.train.data import TrainingData
from groundswell.train.job import job_training_data_in
from groundswell.train.trainer import train_model

__all__ = [
    "HOLDOUT_SHARE",
    "RETRAIN_WORK",
    "LoopOutcome",
    "RetrainComputed",
    "RetrainPlan",
    "compute_retrain",
    "loop_settings",
    "loop_versions",
    "read_retrain",
    "restore_version",
    "retrain_job",
    "schedule_retrains",
    "set_model_loop",
    "write_retrain",
]

RETRAIN_WORK = "retrain"
#: Share of the job's human labels held out to judge candidates (by a digest of the text: fixed per tweet).
HOLDOUT_SHARE = 0.2
_PURPOSE = "loop"


def loop_settings(job: Job) -> dict[str, Any] | None:
    """The job's model loop (``out``, ``every``), or ``None``."""
    loop = (job.settings or {}).get("model_loop")
    return dict(loop) if isinstance(loop, dict) else None


def set_model_loop(
    session: Session, job: Job, out: str | Path | None, every: int = 500, interval_s: float | None = None
) -> dict[str, Any] | None:
    """Turn the job's model loop on (``out``: the folder ``endpoint serve`` serves) or off (``out=None``).

    A retrain is due when ``every`` more human labels are final, or, with ``interval_s``, when that long has
    passed since the last candidate and any new label is final (a schedule for a slow stream)."""
    if out is None:
        job.settings = {k: v for k, v in (job.settings or {}).items() if k != "model_loop"}
        return None
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise InvalidInputError(f"--every must be a whole number ≥ 1, got {every!r}")
    if interval_s is not None and not (isinstance(interval_s, int | float) and interval_s >= 60):
        raise InvalidInputError(f"--interval must be at least 60 seconds, got {interval_s!r}")
    loop: dict[str, Any] = {"out": str(Path(out).resolve()), "every": every}
    if interval_s is not None:
        loop["interval_s"] = float(interval_s)
    job.settings = {**(job.settings or {}), "model_loop": loop}
    return loop


def _human_labels(session: Session, job_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ConsolidatedLabel)
            .join(
                JobItem, (JobItem.item_id == ConsolidatedLabel.item_id) & (JobItem.job_id == ConsolidatedLabel.job_id)
            )
            .where(ConsolidatedLabel.job_id == job_id, ConsolidatedLabel.human_annotated, JobItem.is_done)
        )
        or 0
    )


def _last_candidate(session: Session, job_id: int) -> tuple[int, datetime | None]:
    """Human labels the last candidate had seen, and when it was made (0 and ``None`` before the first)."""
    rows = session.execute(
        select(ModelVersion.metrics, ModelVersion.created_at).where(
            ModelVersion.job_id == job_id, ModelVersion.purpose == _PURPOSE
        )
    ).all()
    seen = max((int(m.get("labels_seen", 0)) for m, _ in rows if isinstance(m, dict)), default=0)
    return seen, max((at for _, at in rows), default=None)


def schedule_retrains(session: Session, *, now: datetime | None = None) -> int:
    """Queue a retrain for each job whose loop is due (:func:`set_model_loop`)."""
    now = now or utcnow()
    queued = 0
    for job in session.scalars(select(Job)).all():
        loop = loop_settings(job)
        if loop is None:
            continue
        waiting = session.scalar(
            select(func.count())
            .select_from(Work)
            .where(Work.kind == RETRAIN_WORK, Work.job_id == job.id)
            .where(Work.state.in_((WorkState.QUEUED, WorkState.RUNNING)))
        )
        if waiting:
            continue
        seen, last = _last_candidate(session, job.id)
        grown = _human_labels(session, job.id) - seen
        interval = loop.get("interval_s")
        late = interval is not None and grown > 0 and (last is None or (now - last).total_seconds() >= interval)
        if grown >= int(loop["every"]) or late:
            enqueue(session, RETRAIN_WORK, job_id=job.id)
            queued += 1
    return queued


def _held_out(texts: list[str]) -> np.ndarray[Any, Any]:
    digests = [
        int.from_bytes(hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
        for t in texts
    ]
    return np.asarray([d / 2**64 < HOLDOUT_SHARE for d in digests], dtype=bool)


def _subset(data: TrainingData, mask: np.ndarray[Any, Any]) -> TrainingData:
    keep = np.flatnonzero(mask)
    return TrainingData(
        texts=[data.texts[i] for i in keep],
        targets=[data.targets[i] for i in keep],
        labels=data.labels,
        source=data.source,
        label_attribute_name=data.label_attribute_name,
        job_name=data.job_name,
    )


def _score(model_dir: Path, data: TrainingData) -> float | None:
    """Macro-recall of the model in ``model_dir`` on ``data``; ``None`` when there is no model there (or one
    for other labels, which is no yardstick). The card's temperature changes no top class, so it is not
    applied."""
    if not (model_dir / CARD_FILE).exists():
        return None
    loaded = load_model(model_dir)
    if list(loaded.card.labels) != list(data.labels):
        return None
    proba = predict_proba_full(loaded.estimator, data.texts, len(data.labels))
    predicted = np.asarray(proba).argmax(axis=1)
    return float(evaluate(np.asarray(data.targets), predicted, list(data.labels))["macro_recall"])


def _promote(candidate: Path, model_dir: Path) -> None:
    """Copy the candidate's files into ``model_dir``, each by an atomic rename, the model card last."""
    model_dir.mkdir(parents=True, exist_ok=True)
    files = sorted((p for p in candidate.iterdir() if p.is_file()), key=lambda p: p.name == CARD_FILE)
    for source in files:
        temporary = model_dir / f".{source.name}.incoming"
        shutil.copy2(source, temporary)
        os.replace(temporary, model_dir / source.name)


@dataclass(frozen=True)
class LoopOutcome:
    """One retrain: the version row, both scores, and whether it was promoted (and why)."""

    version_id: int
    candidate_score: float
    current_score: float | None
    promoted: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class RetrainPlan:
    """What a retrain reads: the job's human labels split into train / held out, where to put the candidate."""

    job_id: int
    train: TrainingData
    holdout: TrainingData
    labels_seen: int
    served: Path
    folder: Path


@dataclass(frozen=True)
class RetrainComputed:
    """The trained, scored (and perhaps promoted) candidate, to record."""

    plan: RetrainPlan
    card: Any
    candidate: float
    current: float | None
    promoted: bool
    reason: str


def read_retrain(session: Session, job_id: int, artifact_dir: Path | None = None) -> RetrainPlan:
    """The runner's read step (``runner.staged``): the labels, the held-out split, the version number. Versions
    are kept under ``artifact_dir`` (the runner's ``DATA_DIR/models``), else beside the served folder."""
    job = session.get(Job, job_id)
    loop = None if job is None else loop_settings(job)
    if job is None or loop is None:
        raise NotFoundError(f"job {job_id} has no model loop")
    seen = _human_labels(session, job_id)
    _, data = job_training_data_in(session, job_id, human_only=True)
    held = _held_out(data.texts)
    if held.sum() < 10 or (~held).sum() < 20:
        raise InvalidInputError(
            f"job {job.name!r}: {len(data.texts)} human labels are too few to train and judge a model"
        )
    kept = select(func.count()).select_from(ModelVersion)
    kept = kept.where(ModelVersion.job_id == job_id, ModelVersion.purpose == _PURPOSE)
    number = 1 + int(session.scalar(kept) or 0)
    served = Path(loop["out"])
    root = artifact_dir if artifact_dir is not None else served.parent / f"{served.name}-versions"
    folder = root / f"job-{job_id}" / f"loop-{number:04d}"
    return RetrainPlan(job_id, _subset(data, ~held), _subset(data, held), seen, served, folder)


def compute_retrain(plan: RetrainPlan) -> RetrainComputed:
    """Train the candidate, score it and the served model on the held-out labels, promote it if not worse."""
    result = train_model(plan.train, plan.folder, job_name=plan.train.job_name)
    candidate = _score(plan.folder, plan.holdout)
    assert candidate is not None
    current = _score(plan.served, plan.holdout)
    promoted = current is None or candidate >= current
    if current is None:
        reason = "runner: no model served yet"
    elif promoted:
        reason = f"runner: not worse than the served model ({candidate:.4f} ≥ {current:.4f})"
    else:
        reason = f"kept the served model: the candidate is worse ({candidate:.4f} < {current:.4f})"
    if promoted:
        _promote(plan.folder, plan.served)
    return RetrainComputed(plan, result.card, candidate, current, promoted, reason)


def write_retrain(session: Session, computed: RetrainComputed) -> LoopOutcome:
    """Record the candidate as a ``model_versions`` row."""
    plan, card = computed.plan, computed.card
    row = ModelVersion(
        job_id=plan.job_id,
        purpose=_PURPOSE,
        model_type=card.model_type,
        artifact_uri=str(plan.folder.resolve()),
        labels=list(card.labels),
        metrics={
            "labels_seen": plan.labels_seen,
            "train_labels": len(plan.train.texts),
            "holdout_labels": len(plan.holdout.texts),
            "holdout_macro_recall": computed.candidate,
            "served_macro_recall": computed.current,
            "promoted": computed.promoted,
            "promoted_by": computed.reason if computed.promoted else None,
            "decision": computed.reason,
        },
        training_data_hash=card.training_data_hash,
        training_size=card.training_size,
    )
    session.add(row)
    session.flush()
    return LoopOutcome(int(row.id), computed.candidate, computed.current, computed.promoted, computed.reason)


def retrain_job(factory: sessionmaker[Session], job_id: int, artifact_dir: Path | None = None) -> LoopOutcome:
    """Read, compute and write a retrain in one call (module docstring); the runner runs the three apart."""
    with factory() as session:
        plan = read_retrain(session, job_id, artifact_dir)
    computed = compute_retrain(plan)
    with transaction(factory) as session:
        return write_retrain(session, computed)


def loop_versions(
    session: Session, job: Job, *, purposes: tuple[str, ...] = (_PURPOSE, "restore")
) -> list[ModelVersion]:
    """The job's model versions of these purposes (the loop's by default; ``trained`` for those trained on
    request), newest first. Auto-label rounds' models are the rounds' own and not listed."""
    return list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.job_id == job.id, ModelVersion.purpose.in_(purposes))
            .order_by(ModelVersion.id.desc())
        )
    )


def restore_version(session: Session, job: Job, version_id: int, *, by: str) -> ModelVersion:
    """Put a kept version back into the job's served folder, recorded as a ``restore`` row."""
    loop = loop_settings(job)
    if loop is None:
        raise ConflictError(f"job {job.name!r} has no model loop (groundswell job model-loop)")
    version = session.get(ModelVersion, version_id)
    if version is None or version.job_id != job.id or version.purpose not in (_PURPOSE, "restore"):
        raise NotFoundError(f"job {job.name!r} has no model version {version_id}")
    source = Path(version.artifact_uri)
    if not (source / CARD_FILE).exists():
        raise NotFoundError(f"model version {version_id}'s files are gone from {source}")
    _promote(source, Path(loop["out"]))
    row = ModelVersion(
        job_id=job.id,
        purpose="restore",
        model_type=version.model_type,
        artifact_uri=version.artifact_uri,
        labels=list(version.labels),
        metrics={**(version.metrics or {}), "restored_from": version_id, "promoted": True, "promoted_by": by},
        training_data_hash=version.training_data_hash,
        training_size=version.training_size,
    )
    session.add(row)
    session.flush()
    return row

"""Automated labeling inside a job: the round the background runner runs, its scheduling, and its figures.

:func:`auto_label_job` gathers the job's consolidated human labels, calls the pure
:func:`groundswell.active.auto_label_round`, and writes what it decided in one transaction. The runner runs
the same round in three steps (``runner.staged``): :func:`read_round` in a short read-only transaction,
:func:`compute_round` (features, training, certification, the gold veto, the model artifact) with no
transaction open, so that on SQLite the web app's requests never wait for a round, and :func:`write_round`
in a short write transaction, which applies what still holds (below). It writes:

* machine labels as ``consolidated_labels`` rows (``human_annotated`` false, method ``"auto-label"``,
  confidence = the model's probability), their ``job_items`` marked done so routing never offers them;
* ``job_items.priority`` of every other open item, so people label the seed sample, then the most
  informative tweets, first;
* an ``auto_label_rounds`` row (and a ``model_versions`` row when a model was trained);
* under cross-fitting with ``model_vote``, each answered item's vote replaced by the held-out prediction of
  the fold model that never saw its label (the seed sample gets its first vote so).

Machine labels are only ever given to items nobody has started: an item a person holds or answered is theirs
to finish (checked again when the round writes: an item started while the round computed is left to its
person, and keeps its routing priority and vote). A human label counts once its item is done (all wanted
judgments in), so half-answered items never train or check the model. Certification scores each held-out
prediction by what people alone say of the item (``active.threshold.soft_hits``); the TF-IDF features are
fitted once per job and cached between rounds.

Rounds are queued by :func:`schedule_auto_label_rounds` (run by the runner next to its consolidation
scheduling): a first round as soon as an auto-labeling job runs (the random seed order), then one each time
the human labels have grown by ``batch_size`` or by a tenth of those the last round used, whichever is more.
When the human-judgment budget is spent, the round stops the
job instead (the items still open keep no label).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from groundswell.active import AutoLabelSettings, auto_label_round, gold_gate
from groundswell.domain import JobState, WorkState
from groundswell.jobs.answers import human_judgment_count
from groundswell.jobs.autolabel_data import ItemsRead, item_scores, read_items
from groundswell.jobs.autolabel_data import _score_single_answers_by_agreement as _score_single_answers_by_agreement
from groundswell.jobs.autolabel_write import (
    AUTO_LABEL_METHOD,
    model_votes,
    save_round_model,
    write_held_out_votes,
    write_machine_labels,
    write_priorities,
)
from groundswell.jobs.consolidation import request_consolidation
from groundswell.jobs.gold import calibrated_proba, gold_items_of, gold_texts, refresh_gold_items
from groundswell.jobs.lifecycle import job_labels, maybe_complete
from groundswell.jobs.quality_history import record_quality_snapshot
from groundswell.store.queue import StaleWork, enqueue
from groundswell.store.tables import (
    AutoLabelRound,
    ConsolidatedLabel,
    Job,
    JobItem,
    ModelVersion,
    Work,
    utcnow,
)

__all__ = [
    "AUTO_LABEL_METHOD",
    "AUTO_LABEL_WORK",
    "RoundView",
    "auto_label_job",
    "autolabel_rounds",
    "compute_round",
    "human_judgment_count",
    "read_round",
    "schedule_auto_label_rounds",
    "write_round",
]

#: ``work.kind`` of a round; ``groundswell.runner`` runs it with :func:`auto_label_job`.
AUTO_LABEL_WORK = "auto_label_round"
#: Jobs whose featuriser and feature matrix stay in memory between rounds (:func:`_job_features`).
_FEATURES_KEPT = 2
_FEATURES: OrderedDict[tuple[int, str], tuple[Any, Any]] = OrderedDict()
_FEATURES_LOCK = threading.Lock()


@dataclass(frozen=True)
class RoundView:
    """One row of the admin page's automated-labeling table."""

    round_number: int
    human_labels_used: int
    threshold: float | None
    validation_accuracy: float | None
    validation_lower_bound: float | None
    items_machine_labeled: int
    created_at: datetime


def autolabel_rounds(session: Session, job: Job) -> list[RoundView]:
    """The job's rounds, oldest first: round, human labels used, threshold, validation accuracy and bound,
    items machine-labeled (threshold and accuracy are ``None`` before a model could meet the target)."""
    rows = session.scalars(
        select(AutoLabelRound).where(AutoLabelRound.job_id == job.id).order_by(AutoLabelRound.round_number)
    )
    return [
        RoundView(
            r.round_number,
            r.human_labels_used,
            r.threshold,
            r.validation_accuracy,
            r.validation_lower_bound,
            r.items_machine_labeled,
            r.created_at,
        )
        for r in rows
    ]


def _human_labeled(session: Session, job: Job) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ConsolidatedLabel)
            .join(
                JobItem, (JobItem.job_id == ConsolidatedLabel.job_id) & (JobItem.item_id == ConsolidatedLabel.item_id)
            )
            .where(ConsolidatedLabel.job_id == job.id, ConsolidatedLabel.human_annotated, JobItem.is_done)
        )
        or 0
    )


def _items(session: Session, job: Job, labels: list[str]) -> dict[str, Any]:
    """Non-gold items in id order, with their human label index (−1: none yet), whether they are open, and
    how sure each human label is (``jobs.autolabel_data``: read, then scored)."""
    return item_scores(read_items(session, job, labels))


def _job_features(job_id: int, ids: Any, texts: list[str]) -> tuple[Any, Any]:
    """The job's fitted featuriser and TF-IDF matrix, reused between rounds while its items stay the same.

    Cross-fitting fits ``folds + 1`` models a round; refitting the featuriser too (a few seconds per 10,000
    tweets) would add to every round for nothing, since it is fitted on every text of the job, labeled or
    not. The key holds a digest of the item ids *and* texts, so a fresh database that reuses a job id and
    item ids (tests, benchmarks, the simulator) never gets another job's features.
    """
    from groundswell.ml import FeaturizerConfig, build_featurizer

    digest = hashlib.blake2b(np.asarray(ids, dtype=np.int64).tobytes(), digest_size=16)
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\x00")
    key = (job_id, digest.hexdigest())
    with _FEATURES_LOCK:
        if key in _FEATURES:
            _FEATURES.move_to_end(key)
            return _FEATURES[key]
    featurizer = build_featurizer(FeaturizerConfig())
    entry = (featurizer, featurizer.fit_transform(texts))
    with _FEATURES_LOCK:
        _FEATURES[key] = entry
        while len(_FEATURES) > _FEATURES_KEPT:
            _FEATURES.popitem(last=False)
    return entry


@dataclass(frozen=True)
class RoundPlan:
    """What :func:`read_round` read for a round: plain data, so :func:`compute_round` needs no session.

    ``skipped`` says why no round runs (nothing else is read); ``stop`` that the human-judgment budget is
    spent, so the round stops the job instead.
    """

    job_id: int
    job_name: str
    settings: AutoLabelSettings
    random_state: int
    artifact_dir: Path | None
    spent: int = 0
    skipped: str | None = None
    stop: bool = False
    labels: list[str] = field(default_factory=list)
    items: ItemsRead | None = None
    number: int = 0
    gold_texts: list[str] = field(default_factory=list)
    gold_classes: Any = None
    gold_rows: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RoundComputed:
    """What :func:`compute_round` decided, for :func:`write_round` to store."""

    plan: RoundPlan
    data: dict[str, Any] | None = None
    result: Any = None
    veto: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    uri: str = ""
    gold_votes: dict[int, Any] | None = None


def read_round(session: Session, job: Job, *, random_state: int = 0, artifact_dir: Path | None = None) -> RoundPlan:
    """Read everything a round of ``job`` needs (only reads: the runner runs it in a read-only transaction)."""
    settings = AutoLabelSettings.from_mapping(job.settings)
    plan = RoundPlan(job.id, job.name, settings, random_state, artifact_dir)
    if not settings.enabled:
        return replace(plan, skipped="auto-labeling is off for this job")
    if job.state not in (JobState.RUNNING, JobState.PAUSED):
        return replace(plan, skipped=f"job is {job.state.value}")
    spent = human_judgment_count(session, job)
    if settings.budget is not None and spent >= settings.budget:
        return replace(plan, spent=spent, stop=True)
    labels = job_labels(session, job)
    texts, gold = gold_items_of(session, job, labels)
    number = 1 + int(
        session.scalar(select(func.max(AutoLabelRound.round_number)).where(AutoLabelRound.job_id == job.id)) or 0
    )
    return replace(
        plan,
        spent=spent,
        labels=labels,
        items=read_items(session, job, labels),
        number=number,
        gold_texts=texts,
        gold_classes=gold,
        gold_rows=gold_texts(session, job),
    )


def compute_round(plan: RoundPlan) -> RoundComputed:
    """Train, certify, veto by gold and choose (the heavy part of a round); touches no database. With an
    artifact folder, the round's model is saved here too (a file, not a database write: a retried round
    overwrites it under the same round number)."""
    if plan.skipped is not None or plan.stop or plan.items is None:
        return RoundComputed(plan)
    settings, labels, number = plan.settings, plan.labels, plan.number
    data = item_scores(plan.items)
    featurizer = features = None
    if len(data["ids"]) >= settings.min_items and int((data["human"] >= 0).sum()) >= settings.seed_size:
        featurizer, features = _job_features(plan.job_id, data["ids"], data["texts"])  # else no model: none needed
    result = auto_label_round(
        data["texts"],
        data["human"],
        len(labels),
        settings,
        open_items=data["open"],
        keys=data["ids"],
        features=features,
        featurizer=featurizer,
        label_confidence=data["sure"],
        random_state=plan.random_state + number,
    )
    floor, veto = _gold_veto(plan.gold_texts, plan.gold_classes, len(labels), settings, result)
    result = result.vetoed_below(floor)
    metrics = uri = None
    if result.model is not None:
        metrics = {
            "validation_accuracy": result.model_accuracy,
            "validation_size": result.validation_size,
            "round": number,
            "temperature": result.temperature,
            "validation_ece_raw": result.ece_raw,
            "validation_ece": result.ece,
            "certification": result.certification,
            "folds": settings.folds if result.certification == "cross-fit" else None,
            "coverage": result.coverage,
        }
        if plan.artifact_dir is not None and result.estimator is not None:
            folder = plan.artifact_dir / f"job-{plan.job_id}" / f"round-{number}"
            uri = save_round_model(folder, plan.job_name, labels, result, metrics)
    votes = None
    if settings.model_vote and result.estimator is not None and result.temperature is not None:
        ids = [item_id for item_id, _ in plan.gold_rows]
        texts = [text for _, text in plan.gold_rows]
        votes = dict(zip(ids, calibrated_proba(result.estimator, texts, result.temperature, len(labels)), strict=True))
    return RoundComputed(plan, data, result, veto, metrics, uri or "", votes)


def write_round(session: Session, job: Job, computed: RoundComputed) -> dict[str, Any]:
    """Store what :func:`compute_round` decided, checking first what it relies on (module docstring); returns
    a JSON-ready summary.

    A job paused meanwhile still gets its round (as a paused job is labeled); one stopped, completed or with
    automated labeling turned off meanwhile gets nothing. A round recorded meanwhile (a runner that was taken
    for dead finished it after all) makes this one stale: it runs again on fresh data.
    """
    plan = computed.plan
    if plan.skipped is not None:
        return {"job": job.name, "skipped": plan.skipped}
    if not AutoLabelSettings.from_mapping(job.settings).enabled:
        return {"job": job.name, "skipped": "auto-labeling is off for this job"}
    if job.state not in (JobState.RUNNING, JobState.PAUSED):
        return {"job": job.name, "skipped": f"job is {job.state.value}"}
    settings = plan.settings
    if plan.stop:
        job.state, job.finished_at = JobState.STOPPED, utcnow()
        request_consolidation(session, job)
        return {"job": job.name, "stopped": f"human-judgment budget spent ({plan.spent} of {settings.budget})"}
    number = 1 + int(
        session.scalar(select(func.max(AutoLabelRound.round_number)).where(AutoLabelRound.job_id == job.id)) or 0
    )
    if number != plan.number:
        raise StaleWork(f"job {job.name}: round {number - 1} was recorded while round {plan.number} computed")
    data, result, labels = computed.data, computed.result, plan.labels
    assert data is not None and result is not None
    model_id = None
    if result.model is not None:
        model = ModelVersion(
            job_id=job.id,
            purpose="auto-label",
            model_type="tfidf-linear",
            artifact_uri=computed.uri,
            labels=list(labels),
            metrics=computed.metrics,
            training_size=result.train_size,
        )
        session.add(model)
        session.flush()
        model_id = model.id
    labeled = write_machine_labels(session, job, data["ids"], result, labels, model_id)
    votes = model_votes(result, len(data["ids"])) if settings.model_vote else None
    write_priorities(session, job, data["ids"], data["open"], result.priority, set(labeled), votes)
    if settings.model_vote and result.certification == "cross-fit":
        write_held_out_votes(session, job, data["ids"], result)
    still_open = data["open"] & ~np.isin(data["ids"], labeled)
    refresh_gold_items(
        session,
        job,
        result.priority[still_open],
        estimator=None,
        temperature=None,
        n_classes=len(labels),
        random_state=plan.random_state + number,
        votes=computed.gold_votes,
    )
    choice = result.threshold
    session.add(
        AutoLabelRound(
            job_id=job.id,
            round_number=number,
            model_version_id=model_id,
            human_labels_used=int((data["human"] >= 0).sum()),
            threshold=None if choice is None else choice.threshold,
            validation_accuracy=None if choice is None else choice.accuracy,
            validation_lower_bound=None if choice is None else choice.lower_bound,
            items_machine_labeled=len(labeled),
        )
    )
    session.flush()
    record_quality_snapshot(session, job)  # the cost curve's point (jobs.quality_history)
    if labeled and maybe_complete(session, job):
        request_consolidation(session, job)
    return {
        "job": job.name,
        "round": number,
        "stage": result.stage,
        "human_labels_used": int((data["human"] >= 0).sum()),
        "train_size": result.train_size,
        "validation_size": result.validation_size,
        "threshold": None if choice is None else choice.threshold,
        "validation_accuracy": None if choice is None else choice.accuracy,
        "validation_lower_bound": None if choice is None else choice.lower_bound,
        "items_machine_labeled": len(labeled),
        "human_judgments": plan.spent,
        "temperature": result.temperature,
        "validation_ece_raw": result.ece_raw,
        "validation_ece": result.ece,
        "certification": result.certification,
        "coverage": result.coverage,
        "gold_veto": computed.veto,
    }


def auto_label_job(
    session: Session, job: Job, *, random_state: int = 0, artifact_dir: Path | None = None
) -> dict[str, Any]:
    """Run one round for ``job`` in the caller's transaction and store its decisions (module docstring);
    returns a JSON-ready summary.

    With ``artifact_dir``, the round's model (featuriser + classifier, the temperature on its card) is saved
    as a skops artifact in ``artifact_dir/job-<id>/round-<n>`` and that folder is the model version's
    ``artifact_uri``; without it the model lives for the round only (``artifact_uri`` empty).
    """
    plan = read_round(session, job, random_state=random_state, artifact_dir=artifact_dir)
    return write_round(session, job, compute_round(plan))


def _gold_veto(
    texts: list[str], gold: Any, n_labels: int, settings: AutoLabelSettings, result: Any
) -> tuple[float, dict[str, Any] | None]:
    """The confidence below which the job's gold items (``texts``, their classes ``gold``) veto the round's
    machine labels (:func:`groundswell.active.gold_gate`; ``-inf``: no veto) and the figures behind it
    (``None`` when there was nothing to judge)."""
    if result.estimator is None or not len(result.machine_items):
        return float("-inf"), None
    if not len(gold):
        return float("-inf"), None
    proba = calibrated_proba(result.estimator, texts, result.temperature, n_labels)
    predicted, confidence = proba.argmax(axis=1), proba.max(axis=1)
    cut = result.cutoffs(n_labels)
    above = confidence >= cut[predicted]
    floor = gold_gate(
        confidence, predicted, gold, cut, target=settings.accuracy_target, min_support=settings.min_support
    )
    return floor, {
        "gold_items_above_threshold": int(above.sum()),
        "gold_accuracy_above_threshold": float((predicted == gold)[above].mean()) if above.any() else None,
        # JSON has no infinities: no veto, or every machine label vetoed.
        "vetoed_below": None if floor == float("-inf") else (floor if np.isfinite(floor) else 1.0),
        "vetoed_everything": floor == float("inf"),
    }


def schedule_auto_label_rounds(session: Session, *, now: datetime | None = None, growth: float = 0.1) -> int:
    """Queue a round for every running auto-labeling job that needs one; returns how many.

    A job gets its first round as soon as it runs (the random seed order), then a new one once its human
    labels grew by ``max(batch_size, growth × the labels its last round used)``, or at once when its budget
    of human judgments is spent (the round stops the job).

    Why the step grows: every round retrains on *all* human labels, so with a fixed step the work per round
    grows with the job and the total with its square (a 45,615-tweet job at ``batch_size`` 1,140: 41 rounds,
    the last ones on 40,000+ labels). With the step at 10 % of what the last round used, a small job keeps its
    schedule (a step of ``batch_size`` while that is more) and a large one gets a number of rounds that grows
    with the logarithm of its size (25 on 45,615 tweets), whose training work adds up to about
    ``(1 + growth) / growth`` times the last round's (there: 413,000 labels trained on instead of 935,000).
    A model trained on 10 % more labels barely differs, so little is lost: late in a large job the open
    items' routing priorities and model votes are refreshed a little less often.
    """
    now = now or utcnow()
    pending = set(
        session.scalars(
            select(Work.job_id).where(
                Work.kind == AUTO_LABEL_WORK, Work.state.in_([WorkState.QUEUED, WorkState.RUNNING])
            )
        )
    )
    queued = 0
    for job in session.scalars(select(Job).where(Job.state == JobState.RUNNING).order_by(Job.id)):
        if job.id in pending or not (job.settings or {}).get("auto_label"):
            continue
        settings = AutoLabelSettings.from_mapping(job.settings)
        last = session.scalar(
            select(AutoLabelRound.human_labels_used)
            .where(AutoLabelRound.job_id == job.id)
            .order_by(AutoLabelRound.round_number.desc())
            .limit(1)
        )
        step = max(settings.batch_size, int(growth * last)) if last is not None else 0
        due = last is None or _human_labeled(session, job) - last >= step
        over_budget = settings.budget is not None and human_judgment_count(session, job) >= settings.budget
        if due or over_budget:
            enqueue(session, AUTO_LABEL_WORK, job_id=job.id, run_after=now)
            queued += 1
    session.flush()
    return queued

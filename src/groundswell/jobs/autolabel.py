"""Automated labeling inside a job: the round the background runner runs, its scheduling, and its figures.

:func:`auto_label_job` gathers the job's consolidated human labels, calls the pure
:func:`groundswell.active.auto_label_round`, and writes what it decided in one transaction:

* machine labels as ``consolidated_labels`` rows (``human_annotated`` false, method ``"auto-label"``,
  confidence = the model's probability), their ``job_items`` marked done so routing never offers them;
* ``job_items.priority`` of every other open item, so people label the seed sample, then the most
  informative tweets, first;
* an ``auto_label_rounds`` row (and a ``model_versions`` row when a model was trained);
* under cross-fitting with ``model_vote``, each answered item's vote replaced by the held-out prediction of
  the fold model that never saw its label (the seed sample gets its first vote so).

Machine labels are only ever given to items nobody has started: an item a person holds or answered is theirs
to finish. A human label counts once its item is done (all wanted judgments in), so half-answered items never
train or check the model. Certification scores each held-out prediction by what people alone say of the
item (``active.threshold.soft_hits``); the TF-IDF features are fitted once per job and cached between rounds.

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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from groundswell.active import AutoLabelSettings, auto_label_round, gold_gate
from groundswell.domain import JobState, WorkState
from groundswell.jobs.consolidation import request_consolidation
from groundswell.jobs.gold import calibrated_proba, gold_items_of, refresh_gold_items
from groundswell.jobs.lifecycle import job_labels, maybe_complete
from groundswell.jobs.posterior import fit_job_posterior, posterior_rule
from groundswell.store.queue import enqueue
from groundswell.store.tables import (
    AutoLabelRound,
    ConsolidatedLabel,
    Item,
    Job,
    JobItem,
    Judgment,
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
    "human_judgment_count",
    "schedule_auto_label_rounds",
]

#: ``work.kind`` of a round; ``groundswell.runner`` runs it with :func:`auto_label_job`.
AUTO_LABEL_WORK = "auto_label_round"
#: ``consolidated_labels.method`` of a machine label.
AUTO_LABEL_METHOD = "auto-label"
_CHUNK = 5000
#: ``consolidated_labels.method`` values whose confidence is a vote share, not a probability (the same set as
#: ``groundswell.jobs.consolidation``'s one-worker rule).
_VOTE_SHARE_METHODS = frozenset({"mv", "wmv"})
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


def human_judgment_count(session: Session, job: Job) -> int:
    """Answers people gave in the job (withdrawals not counted): what the budget limits."""
    return int(session.scalar(select(func.count()).where(Judgment.job_id == job.id, Judgment.label.is_not(None))) or 0)


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
    how sure each human label is (``label_confidence``: the consolidated posterior, 1.0 where there is none).

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
    posterior = fit_job_posterior(session, job) if posterior_rule(job) and (human >= 0).any() else None
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
        return {"ids": ids, "texts": [r[1] for r in rows], "human": human, "open": is_open, "sure": rows_out}
    return {"ids": ids, "texts": [r[1] for r in rows], "human": human, "open": is_open, "sure": sure}


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


def auto_label_job(
    session: Session, job: Job, *, random_state: int = 0, artifact_dir: Path | None = None
) -> dict[str, Any]:
    """Run one round for ``job`` and store its decisions (module docstring); returns a JSON-ready summary.

    With ``artifact_dir``, the round's model (featuriser + classifier, the temperature on its card) is saved
    as a skops artifact in ``artifact_dir/job-<id>/round-<n>`` and that folder is the model version's
    ``artifact_uri``; without it the model lives for the round only (``artifact_uri`` empty).
    """
    settings = AutoLabelSettings.from_mapping(job.settings)
    if not settings.enabled:
        return {"job": job.name, "skipped": "auto-labeling is off for this job"}
    if job.state not in (JobState.RUNNING, JobState.PAUSED):
        return {"job": job.name, "skipped": f"job is {job.state.value}"}
    spent = human_judgment_count(session, job)
    if settings.budget is not None and spent >= settings.budget:
        job.state, job.finished_at = JobState.STOPPED, utcnow()
        request_consolidation(session, job)
        return {"job": job.name, "stopped": f"human-judgment budget spent ({spent} of {settings.budget})"}
    labels = job_labels(session, job)
    data = _items(session, job, labels)
    number = 1 + int(
        session.scalar(select(func.max(AutoLabelRound.round_number)).where(AutoLabelRound.job_id == job.id)) or 0
    )
    featurizer = features = None
    if len(data["ids"]) >= settings.min_items and int((data["human"] >= 0).sum()) >= settings.seed_size:
        featurizer, features = _job_features(job.id, data["ids"], data["texts"])  # else no model: none needed
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
        random_state=random_state + number,
    )
    floor, veto = _gold_veto(session, job, labels, settings, result)
    result = result.vetoed_below(floor)
    model_id = None
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
        uri = ""
        if artifact_dir is not None and result.estimator is not None:
            uri = _save_round_model(artifact_dir / f"job-{job.id}" / f"round-{number}", job, labels, result, metrics)
        model = ModelVersion(
            job_id=job.id,
            purpose="auto-label",
            model_type="tfidf-linear",
            artifact_uri=uri,
            labels=list(labels),
            metrics=metrics,
            training_size=result.train_size,
        )
        session.add(model)
        session.flush()
        model_id = model.id
    labeled = _write_machine_labels(session, job, data["ids"], result, labels, model_id)
    votes = _model_votes(result, len(data["ids"])) if settings.model_vote else None
    _write_priorities(session, job, data["ids"], data["open"], result.priority, set(labeled), votes)
    if settings.model_vote and result.certification == "cross-fit":
        _write_held_out_votes(session, job, data["ids"], result)
    still_open = data["open"] & ~np.isin(data["ids"], labeled)
    refresh_gold_items(
        session,
        job,
        result.priority[still_open],
        estimator=result.estimator if settings.model_vote else None,
        temperature=result.temperature,
        n_classes=len(labels),
        random_state=random_state + number,
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
        "human_judgments": spent,
        "temperature": result.temperature,
        "validation_ece_raw": result.ece_raw,
        "validation_ece": result.ece,
        "certification": result.certification,
        "coverage": result.coverage,
        "gold_veto": veto,
    }


def _gold_veto(
    session: Session, job: Job, labels: list[str], settings: AutoLabelSettings, result: Any
) -> tuple[float, dict[str, Any] | None]:
    """The confidence below which the job's gold items veto the round's machine labels
    (:func:`groundswell.active.gold_gate`; ``-inf``: no veto) and the figures behind it (``None`` when there
    was nothing to judge)."""
    if result.estimator is None or not len(result.machine_items):
        return float("-inf"), None
    texts, gold = gold_items_of(session, job, labels)
    if not len(gold):
        return float("-inf"), None
    proba = calibrated_proba(result.estimator, texts, result.temperature, len(labels))
    predicted, confidence = proba.argmax(axis=1), proba.max(axis=1)
    cut = result.cutoffs(len(labels))
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


def _save_round_model(folder: Path, job: Job, labels: list[str], result: Any, metrics: dict[str, Any]) -> str:
    """Write the round's model as a skops artifact with its card; returns the folder's absolute path."""
    from groundswell.ml import ModelCard, package_versions, save_model

    card = ModelCard(
        model_type="tfidf-linear",
        labels=list(labels),
        metrics={"validation": metrics},
        training_size=result.train_size,
        validation_size=result.validation_size,
        job_name=f"labeling-job/{job.name}",
        params={"temperature": result.temperature, "purpose": "auto-label", "round": metrics["round"]},
        package_versions=package_versions(),
        source=f"job {job.name}, automated-labeling round {metrics['round']}",
    )
    return str(save_model(folder, result.estimator, card).resolve())


def _write_machine_labels(
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


def _model_votes(result: Any, n: int) -> list[tuple[int | None, float | None, list[float] | None]]:
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


def _write_held_out_votes(session: Session, job: Job, ids: Any, result: Any) -> None:
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


def _write_priorities(
    session: Session,
    job: Job,
    ids: Any,
    is_open: Any,
    priority: Any,
    skip: set[int],
    votes: list[tuple[int | None, float | None, list[float] | None]] | None = None,
) -> None:
    """Bulk update (by primary key) of ``job_items.priority`` and, with ``votes``, the model's vote, for the
    open items left to people. Started items keep the vote they were started with."""
    rows: list[dict[str, Any]] = []
    for position, (item_id, still_open, p) in enumerate(zip(ids, is_open, priority, strict=True)):
        if not still_open or int(item_id) in skip:
            continue
        row: dict[str, Any] = {"job_id": job.id, "item_id": int(item_id), "priority": float(p)}
        if votes is not None:
            row["model_label"], row["model_confidence"], row["model_proba"] = votes[position]
        rows.append(row)
    for start in range(0, len(rows), _CHUNK):
        session.execute(update(JobItem), rows[start : start + _CHUNK])


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

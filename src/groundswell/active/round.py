"""One automated-labeling round as a pure function: human labels in, machine labels and priorities out.

Ground Truth's procedure (spec §5.2), item by item:

1. Until ``seed_size`` items carry a human label, there is no model: every open item gets a random
   priority, so people label a random seed sample first.
2. Held-out predictions on human labels (:mod:`groundswell.active.crossfit`). Under ``certification =
   "cross-fit"`` (default) every human-labeled item gets one out-of-fold prediction from a model fitted on
   the other ``folds`` folds, and a final model is fitted on all of them. Under ``"split"`` (Ground Truth's)
   an item is a validation item when a hash of its key falls below the validation share (20 %, 10 % above
   5,000 items); the model trains on the rest. Either way the assignment is a hash of the item's key:
   random, but stable from round to round.
3. The model (TF-IDF features fitted on every text of the job, labels or not, with VADER lexicon features,
   plus a balanced logistic regression: ``groundswell.ml``'s default model; the lexicon knows the polarity
   of words a few hundred labels never showed: 0.51–0.54 → 0.59–0.60 accuracy from 400–1,400 labels on
   TweetEval) gets its probabilities calibrated with one temperature fitted on the held-out predictions
   (the result reports the expected calibration error before and after).
4. Choose the threshold on the held-out predictions (:mod:`groundswell.active.threshold`), each scored by
   its expected correctness against a human label that is itself right with ``label_confidence``
   (:func:`~groundswell.active.threshold.soft_hits`; 1.0, a plain hit, by default).
5. Open items whose (final model's) confidence ≥ threshold get the predicted label: the machine labels.
6. The other open items get routing priorities: the query strategy's batch first (priority > 1, in its
   order), then everyone else by informativeness (priority in [0, 1)).

The caller decides what an "open" item is (the service: not started by anyone, not done, not gold) and
writes the results; nothing here knows about jobs or databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from groundswell.active.base import FloatArray, IntArray
from groundswell.active.crossfit import (
    Evidence,
    cross_fit_evidence,
    fits_every_fold,
    fold_assignment,
    split_evidence,
    stable_uniform,
)
from groundswell.active.settings import AutoLabelSettings
from groundswell.active.strategies import make_strategy
from groundswell.active.threshold import (
    ThresholdChoice,
    accuracy_lower_bound,
    select_class_thresholds,
    select_threshold,
    soft_hits,
)
from groundswell.active.voting import apply_temperature, expected_calibration_error, fit_temperature
from groundswell.errors import InvalidInputError

if TYPE_CHECKING:  # imported when a round runs: job creation validates settings without loading the models
    from groundswell.ml import FeaturizerConfig, ModelConfig

__all__ = ["RoundResult", "auto_label_round", "featurize", "stable_uniform"]

#: A round trains only once the training split (under cross-fitting: every fold's) has at least this many items.
_MIN_TRAIN = 20


@dataclass(frozen=True)
class RoundResult:
    """What one round decided. Positions index the inputs of :func:`auto_label_round`.

    Attributes:
        stage: ``"ineligible"`` (job too small), ``"seed"`` (no model yet: random priorities) or ``"model"``.
        threshold: The chosen threshold with its held-out accuracy and bound; under per-class thresholds,
            the lowest class threshold with the accuracy and bound of all held-out items that clear
            their class's threshold. ``None`` when the target is out of reach. With ``label_confidence`` < 1
            the accuracy is the mean expected correctness (soft hits).
        class_thresholds: Per-class choices (per-class mode only).
        machine_items: Positions of open items to machine-label.
        machine_labels: Their class indices.
        machine_confidence: The model's probability for that class.
        priority: Routing priority per position (meaningful for open items not machine-labeled).
        train_size: Human-labeled items the (final) model was trained on: all of them under cross-fitting.
        validation_size: Human-labeled items with a held-out prediction: all of them under cross-fitting
            (out-of-fold), the validation split under ``"split"``.
        model_accuracy: Share of those held-out predictions that equal the human label (plain agreement, not
            soft); ``None`` without a model.
        model: The fitted (final) classifier (on :func:`featurize` output), for recording.
        estimator: Featuriser + classifier as one scikit-learn pipeline on raw texts (``None`` when the caller
            passed precomputed ``features`` without their fitted ``featurizer``): what a round saves as its
            artifact. Its probabilities are the raw ones; divide their log-odds by ``temperature`` for the
            calibrated ones.
        predicted: The (final) model's class per position (``-1`` without a model).
        confidence: Its calibrated probability for that class per position (0 without a model).
        proba: The calibrated probability of every class per position (``None`` without a model).
        is_validation: Whether each position is held out of the model for good: the validation split
            (stable between rounds) under ``"split"``, none under cross-fitting.
        temperature: The temperature fitted on the held-out predictions (1.0: none fitted).
        ece_raw: Expected calibration error of the raw held-out probabilities.
        ece: The same after temperature scaling (in-sample: one parameter fitted on those items).
        coverage: Share of the open items machine-labeled (``None`` without a model or open items).
        certification: ``"cross-fit"`` or ``"split"`` (``None`` without a model).
        fold: Under cross-fitting, each position's fold (stable between rounds; only labeled ones are used).
        held_out_items: Positions of the human-labeled items with a held-out prediction.
        held_out_proba: Their calibrated held-out probabilities (rows aligned with ``held_out_items``): under
            cross-fitting, what a model that never saw each item's label says of it, the prior the job's
            posterior may give an answered tweet.
    """

    stage: str
    threshold: ThresholdChoice | None
    class_thresholds: list[ThresholdChoice | None] | None
    machine_items: IntArray
    machine_labels: IntArray
    machine_confidence: FloatArray
    priority: FloatArray
    train_size: int
    validation_size: int
    model_accuracy: float | None
    model: Any | None = None
    predicted: IntArray | None = None
    confidence: FloatArray | None = None
    is_validation: Any | None = None
    temperature: float = 1.0
    ece_raw: float | None = None
    ece: float | None = None
    proba: FloatArray | None = None
    estimator: Any | None = None
    coverage: float | None = None
    certification: str | None = None
    fold: IntArray | None = None
    held_out_items: IntArray | None = None
    held_out_proba: FloatArray | None = None

    def cutoffs(self, n_classes: int) -> FloatArray:
        """Per class, the confidence at or above which this round machine-labels (``inf``: never)."""
        if self.class_thresholds is not None:
            return np.array([np.inf if c is None else c.threshold for c in self.class_thresholds])
        return np.full(n_classes, np.inf if self.threshold is None else self.threshold.threshold)

    def vetoed_below(self, floor: float) -> RoundResult:
        """This round with no machine label below ``floor`` (those items stay open for people)."""
        keep = self.machine_confidence >= floor
        if keep.all():
            return self
        return replace(
            self,
            machine_items=self.machine_items[keep],
            machine_labels=self.machine_labels[keep],
            machine_confidence=self.machine_confidence[keep],
            coverage=None if self.coverage is None else self.coverage * float(keep.mean()),
        )


def featurize(texts: Sequence[str], config: FeaturizerConfig | None = None) -> Any:
    """The sparse TF-IDF matrix of ``texts`` (fitted on them: unlabeled texts shape the vocabulary too)."""
    from groundswell.ml import FeaturizerConfig, build_featurizer

    return build_featurizer(config or FeaturizerConfig()).fit_transform(list(texts))


def _priorities(
    settings: AutoLabelSettings, proba: FloatArray, features: Any, rest: IntArray, n: int, rng: np.random.Generator
) -> FloatArray:
    """Priority per position of ``rest``: the strategy's batch in (1, 2] in its order, the others in [0, 1)."""
    priority = np.zeros(len(rest))
    if len(rest) == 0:
        return priority
    strategy = make_strategy(settings.query_strategy)
    batch = min(settings.batch_size, len(rest))
    picked = strategy.query(proba[rest], batch, features=features[rest], random_state=rng)
    scores = strategy.last_scores_ if strategy.last_scores_ is not None else np.zeros(len(rest))
    order = np.lexsort((rng.random(len(rest)), scores))  # ascending: least useful first
    priority[order] = np.arange(len(rest)) / len(rest)
    priority[picked] = 1.0 + (batch - np.arange(len(picked))) / batch
    return priority


def _choose(
    settings: AutoLabelSettings, conf: FloatArray, pred: IntArray, hit: Any, n_classes: int
) -> tuple[ThresholdChoice | None, list[ThresholdChoice | None] | None, FloatArray]:
    """The threshold(s) and, per class, the cut-off to apply (``inf``: that class is never machine-labeled)."""
    options: dict[str, Any] = {
        "target": settings.accuracy_target,
        "rule": settings.threshold_rule,
        "method": settings.bound_method,
        "min_support": settings.min_support,
    }
    if not settings.per_class_thresholds:
        choice = select_threshold(conf, hit, **options)
        return choice, None, np.full(n_classes, np.inf if choice is None else choice.threshold)
    per_class = select_class_thresholds(conf, pred, hit, n_classes, **options)
    cut = np.array([np.inf if c is None else c.threshold for c in per_class])
    above = conf >= cut[pred]
    if not above.any():
        return None, per_class, cut
    right, total = float(np.sum(np.asarray(hit, dtype=np.float64)[above])), int(above.sum())
    bound = float(accuracy_lower_bound(min(round(right), total), total, method=settings.bound_method))
    combined = ThresholdChoice(float(cut[np.isfinite(cut)].min()), right / total, bound, total)
    return combined, per_class, cut


def auto_label_round(
    texts: Sequence[str],
    human_labels: Any,
    n_classes: int,
    settings: AutoLabelSettings,
    *,
    open_items: Any | None = None,
    keys: Any | None = None,
    features: Any | None = None,
    featurizer: Any | None = None,
    label_confidence: Any | None = None,
    model_config: ModelConfig | None = None,
    random_state: int = 0,
) -> RoundResult:
    """Run one round over a job's items (module docstring has the procedure).

    Args:
        texts: Every item's text.
        human_labels: Class index of each item's consolidated human label, ``-1`` for none.
        n_classes: Number of labels.
        settings: The job's automated-labeling settings.
        open_items: Boolean mask of items that may be machine-labeled or ranked (default: no human label).
        keys: Stable integer key per item (the service passes item ids) for the validation split and the
            folds; default: positions.
        features: Precomputed :func:`featurize` output (saves refitting TF-IDF every round).
        featurizer: The fitted featuriser that produced ``features``, so the round can still save its model
            as a pipeline on raw texts (``RoundResult.estimator``); ignored without ``features``.
        label_confidence: Per item, the probability that its human label is right (e.g. the consolidated
            label's posterior), or the whole posterior as an ``(items, classes)`` matrix; default 1.0.
            Held-out predictions are scored by their expected correctness against it
            (:func:`~groundswell.active.threshold.soft_hits`), so doubtful labels cannot vouch for a
            threshold as much as sure ones.
        model_config: Classifier hyperparameters (``C``, class weights); default ``ModelConfig()``.
        random_state: Seed of the round's randomness (tie-breaks, random strategy).
    """
    n = len(texts)
    y = np.asarray(human_labels, dtype=np.int64)
    if y.shape != (n,) or (y < -1).any() or (y >= n_classes).any():
        raise InvalidInputError(f"human_labels must hold {n} class indices in [-1, {n_classes})")
    is_open = ~(y >= 0) if open_items is None else np.asarray(open_items, dtype=bool)
    if is_open.shape != (n,):
        raise InvalidInputError(f"open_items must be a mask of {n} items")
    sure = _label_confidence(label_confidence, n)
    rng = np.random.default_rng(random_state)
    key = np.arange(n) if keys is None else np.asarray(keys)
    u = stable_uniform(key, salt=0)
    labeled = np.flatnonzero(y >= 0)
    empty_i, empty_f = np.empty(0, dtype=np.intp), np.empty(0)

    def without_model(stage: str, priority: FloatArray, train: int = 0, val: int = 0) -> RoundResult:
        return RoundResult(stage, None, None, empty_i, empty_i, empty_f, priority, train, val, None)

    if n < settings.min_items:
        return without_model("ineligible", np.zeros(n))
    cross = settings.certification == "cross-fit"
    if cross:
        fold = fold_assignment(key, settings.folds)
        train, val = labeled, labeled
        ready = fits_every_fold(y, labeled, fold, settings.folds, _MIN_TRAIN)
    else:
        is_val = u < settings.share_for(n)
        train, val = labeled[~is_val[labeled]], labeled[is_val[labeled]]
        ready = len(train) >= _MIN_TRAIN and len(np.unique(y[train])) >= 2 and len(val) > 0
    if len(labeled) < settings.seed_size or not ready:
        return without_model("seed", 1.0 - u, len(train), len(val))  # random order, stable between rounds
    if features is None:
        from groundswell.ml import FeaturizerConfig, build_featurizer

        featurizer = build_featurizer(FeaturizerConfig())
        matrix = featurizer.fit_transform(list(texts))
    else:
        matrix = features
    if model_config is None:
        from groundswell.ml import ModelConfig

        model_config = ModelConfig()
    if cross:
        evidence = cross_fit_evidence(matrix, y, labeled, fold, settings.folds, n_classes, model_config, random_state)
    else:
        evidence = split_evidence(matrix, y, is_val, n_classes, model_config, random_state)
    return _decide(settings, evidence, matrix, y, sure, is_open, n_classes, rng, featurizer)


def _decide(
    settings: AutoLabelSettings,
    evidence: Evidence,
    matrix: Any,
    y: IntArray,
    sure: FloatArray,
    is_open: Any,
    n_classes: int,
    rng: np.random.Generator,
    featurizer: Any | None,
) -> RoundResult:
    """Calibrate, choose the threshold on the held-out predictions, machine-label and rank the open items."""
    checked, held_raw = evidence.checked, evidence.checked_raw
    human = y[checked]
    temperature = fit_temperature(held_raw, human)
    proba = apply_temperature(evidence.raw, temperature)  # calibrated: machine-label confidences and model votes
    pred = np.asarray(proba.argmax(axis=1), dtype=np.intp)
    conf = proba.max(axis=1)
    held = apply_temperature(held_raw, temperature)
    held_pred = np.asarray(held.argmax(axis=1), dtype=np.intp)
    held_conf = held.max(axis=1)
    agree = held_pred == human
    hits = soft_hits(held_pred, human, sure[checked], n_classes)
    ece_raw = expected_calibration_error(held_raw.max(axis=1), held_raw.argmax(axis=1) == human)
    choice, per_class, cut = _choose(settings, held_conf, held_pred, hits, n_classes)
    open_idx = np.flatnonzero(is_open)
    confident = conf[open_idx] >= cut[pred[open_idx]]
    machine = open_idx[confident]
    rest = open_idx[~confident]
    priority = np.zeros(len(y))
    priority[rest] = _priorities(settings, proba, matrix, rest, len(y), rng)
    return RoundResult(
        stage="model",
        threshold=choice,
        class_thresholds=per_class,
        machine_items=np.asarray(machine, dtype=np.intp),
        machine_labels=pred[machine],
        machine_confidence=conf[machine],
        priority=priority,
        train_size=evidence.train_size,
        validation_size=len(checked),
        model_accuracy=float(agree.mean()),
        model=evidence.model,
        predicted=pred,
        confidence=conf,
        is_validation=evidence.is_validation,
        temperature=temperature,
        ece_raw=ece_raw,
        ece=expected_calibration_error(held_conf, agree),
        proba=proba,
        estimator=None if featurizer is None else _pipeline(featurizer, evidence.model),
        coverage=len(machine) / len(open_idx) if len(open_idx) else None,
        held_out_items=checked,
        held_out_proba=held,
        certification=settings.certification,
        fold=evidence.fold,
    )


def _label_confidence(values: Any | None, n: int) -> FloatArray:
    """Each item's label confidence (or posterior row), 1.0 where none is given; refuses values outside [0, 1]."""
    if values is None:
        return np.ones(n)
    sure = np.asarray(values, dtype=np.float64)
    if sure.shape[:1] != (n,) or sure.ndim > 2 or not (np.isfinite(sure) & (sure >= 0) & (sure <= 1)).all():
        raise InvalidInputError(f"label_confidence must hold {n} probabilities (or posterior rows) in [0, 1]")
    return sure


def _pipeline(featurizer: Any, model: Any) -> Any:
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", featurizer), ("classifier", model)])

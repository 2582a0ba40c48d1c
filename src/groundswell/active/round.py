"""One automated-labeling round as a pure function: human labels in, machine labels and priorities out.

Ground Truth's procedure (spec §5.2), item by item:

1. Until ``seed_size`` items carry a human label, there is no model: every open item gets a random
   priority, so people label a random seed sample first.
2. Human-labeled items split into training and validation. An item is a validation item when a hash of its
   key falls below the validation share (20 %, 10 % above 5,000 items): the split is random, but stable
   from round to round, so a validation item never leaks into a later round's training set.
3. Train (TF-IDF features fitted on every text of the job, labels or not, with VADER lexicon features,
   plus a balanced logistic regression: ``groundswell.ml``'s default model; the lexicon knows the polarity
   of words a few hundred labels never showed: 0.51–0.54 → 0.59–0.60 accuracy from 400–1,400 labels on
   TweetEval), then calibrate its probabilities with one temperature
   fitted on the validation items (the result reports the expected calibration error before and after).
4. Choose the threshold on the validation items (:mod:`groundswell.active.threshold`).
5. Open items with confidence ≥ threshold get the predicted label: the machine labels.
6. The other open items get routing priorities: the query strategy's batch first (priority > 1, in its
   order), then everyone else by informativeness (priority in [0, 1)).

The caller decides what an "open" item is (the service: not started by anyone, not done, not gold) and
writes the results; nothing here knows about jobs or databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from groundswell.active.base import FloatArray, IntArray
from groundswell.active.settings import AutoLabelSettings
from groundswell.active.strategies import make_strategy
from groundswell.active.threshold import (
    ThresholdChoice,
    accuracy_lower_bound,
    select_class_thresholds,
    select_threshold,
)
from groundswell.active.voting import apply_temperature, expected_calibration_error, fit_temperature
from groundswell.errors import InvalidInputError

if TYPE_CHECKING:  # imported when a round runs: job creation validates settings without loading the models
    from sklearn.linear_model import LogisticRegression

    from groundswell.ml import FeaturizerConfig, ModelConfig

__all__ = ["RoundResult", "auto_label_round", "featurize", "stable_uniform"]

#: A round trains only once the training split has at least this many items.
_MIN_TRAIN = 20


@dataclass(frozen=True)
class RoundResult:
    """What one round decided. Positions index the inputs of :func:`auto_label_round`.

    Attributes:
        stage: ``"ineligible"`` (job too small), ``"seed"`` (no model yet: random priorities) or ``"model"``.
        threshold: The chosen threshold with its validation accuracy and bound; under per-class thresholds,
            the lowest class threshold with the accuracy and bound of all validation items that clear
            their class's threshold. ``None`` when the target is out of reach.
        class_thresholds: Per-class choices (per-class mode only).
        machine_items: Positions of open items to machine-label.
        machine_labels: Their class indices.
        machine_confidence: The model's probability for that class.
        priority: Routing priority per position (meaningful for open items not machine-labeled).
        train_size: Human-labeled items the model was trained on.
        validation_size: Human-labeled items held out.
        model_accuracy: Accuracy of the model on all validation items (``None`` without a model).
        model: The fitted classifier (on :func:`featurize` output), for recording.
        estimator: Featuriser + classifier as one scikit-learn pipeline on raw texts (``None`` when the caller
            passed precomputed ``features``): what a round saves as its artifact. Its probabilities are the
            raw ones; divide their log-odds by ``temperature`` for the calibrated ones.
        predicted: The model's class per position (``-1`` without a model).
        confidence: Its calibrated probability for that class per position (0 without a model).
        proba: The calibrated probability of every class per position (``None`` without a model).
        is_validation: Whether each position belongs to the validation split (stable between rounds).
        temperature: The temperature fitted on the validation items (1.0: none fitted).
        ece_raw: Expected calibration error of the raw probabilities on the validation items.
        ece: The same after temperature scaling (in-sample: one parameter fitted on those items).
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


def stable_uniform(keys: Any, salt: int = 0) -> FloatArray:
    """A uniform number in [0, 1) per integer key, the same on every call (SplitMix64 of key and salt)."""
    x = np.asarray(keys, dtype=np.int64).astype(np.uint64) + np.uint64(salt & 0xFFFFFFFF) * np.uint64(
        0x9E3779B97F4A7C15
    )
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return np.asarray((x >> np.uint64(11)).astype(np.float64) / float(1 << 53), dtype=np.float64)


def featurize(texts: Sequence[str], config: FeaturizerConfig | None = None) -> Any:
    """The sparse TF-IDF matrix of ``texts`` (fitted on them: unlabeled texts shape the vocabulary too)."""
    from groundswell.ml import FeaturizerConfig, build_featurizer

    return build_featurizer(config or FeaturizerConfig()).fit_transform(list(texts))


def _fit(features: Any, y: IntArray, config: ModelConfig, random_state: int) -> LogisticRegression:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(
        C=config.c, class_weight=config.class_weight, max_iter=config.max_iter, random_state=random_state
    )
    return model.fit(features, y)


def _proba(model: LogisticRegression, features: Any, n_classes: int) -> FloatArray:
    """Probabilities with a column per label, zeros for classes the training set lacked."""
    proba = np.asarray(model.predict_proba(features), dtype=np.float64)
    full = np.zeros((proba.shape[0], n_classes))
    full[:, np.asarray(model.classes_, dtype=np.intp)] = proba
    return full


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
    right, total = int(np.sum(np.asarray(hit)[above])), int(above.sum())
    bound = float(accuracy_lower_bound(right, total, method=settings.bound_method))
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
        keys: Stable integer key per item (the service passes item ids) for the validation split;
            default: positions.
        features: Precomputed :func:`featurize` output (saves refitting TF-IDF every round).
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
    rng = np.random.default_rng(random_state)
    u = stable_uniform(np.arange(n) if keys is None else keys, salt=0)
    labeled = np.flatnonzero(y >= 0)
    empty_i, empty_f = np.empty(0, dtype=np.intp), np.empty(0)

    def without_model(stage: str, priority: FloatArray, train: int = 0, val: int = 0) -> RoundResult:
        return RoundResult(stage, None, None, empty_i, empty_i, empty_f, priority, train, val, None)

    if n < settings.min_items:
        return without_model("ineligible", np.zeros(n))
    is_val = u < settings.share_for(n)
    train, val = labeled[~is_val[labeled]], labeled[is_val[labeled]]
    if len(labeled) < settings.seed_size or len(train) < _MIN_TRAIN or len(np.unique(y[train])) < 2 or not len(val):
        return without_model("seed", 1.0 - u, len(train), len(val))  # random order, stable between rounds
    featurizer = None
    if features is None:
        from groundswell.ml import FeaturizerConfig, build_featurizer

        featurizer = build_featurizer(FeaturizerConfig())
        matrix = featurizer.fit_transform(list(texts))
    else:
        matrix = features
    if model_config is None:
        from groundswell.ml import ModelConfig

        model_config = ModelConfig()
    config = model_config
    model = _fit(matrix[train], y[train], config, random_state)
    raw = _proba(model, matrix, n_classes)
    temperature = fit_temperature(raw[val], y[val])
    proba = apply_temperature(raw, temperature)  # calibrated: machine-label confidences and model votes
    pred = np.asarray(proba.argmax(axis=1), dtype=np.intp)
    conf = proba.max(axis=1)
    hit = pred[val] == y[val]
    ece_raw = expected_calibration_error(raw[val].max(axis=1), raw[val].argmax(axis=1) == y[val])
    choice, per_class, cut = _choose(settings, conf[val], pred[val], hit, n_classes)
    open_idx = np.flatnonzero(is_open)
    confident = conf[open_idx] >= cut[pred[open_idx]]
    machine = open_idx[confident]
    rest = open_idx[~confident]
    priority = np.zeros(n)
    priority[rest] = _priorities(settings, proba, matrix, rest, n, rng)
    return RoundResult(
        stage="model",
        threshold=choice,
        class_thresholds=per_class,
        machine_items=np.asarray(machine, dtype=np.intp),
        machine_labels=pred[machine],
        machine_confidence=conf[machine],
        priority=priority,
        train_size=len(train),
        validation_size=len(val),
        model_accuracy=float(hit.mean()),
        model=model,
        predicted=pred,
        confidence=conf,
        is_validation=is_val,
        temperature=temperature,
        ece_raw=ece_raw,
        ece=expected_calibration_error(conf[val], hit),
        proba=proba,
        estimator=None if featurizer is None else _pipeline(featurizer, model),
    )


def _pipeline(featurizer: Any, model: LogisticRegression) -> Any:
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", featurizer), ("classifier", model)])

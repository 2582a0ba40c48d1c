"""Active learning and automated labeling, pure (numpy, scipy, scikit-learn; no database, no settings).

Which function when:

- a query strategy (:class:`RandomSampling`, :class:`LeastConfidence`, :class:`Margin`, :class:`Entropy`,
  :class:`DiverseBatch`, or :func:`make_strategy` by name) to pick the next items for people;
- :func:`select_threshold` / :func:`select_class_thresholds` to pick the confidence above which machine
  labels meet an accuracy target, with a lower confidence bound (default) or Ground Truth's point rule;
- :func:`auto_label_round` for a whole round: train, choose the threshold, machine-label, rank the rest;
- :class:`AutoLabelSettings` to read and validate a job's settings keys;
- :func:`posterior` with :func:`model_prior` and :func:`worker_confusion` for how sure an item's label is
  given the model's vote and who answered what (dynamic redundancy's ``posterior`` rule).
"""

from groundswell.active.base import EmptyPoolError, PoolExhaustedError, QueryStrategy, UncertaintyStrategy
from groundswell.active.round import RoundResult, auto_label_round, featurize, stable_uniform
from groundswell.active.settings import DEFAULT_ACCURACY_TARGET, MIN_ITEMS, AutoLabelSettings, validation_share
from groundswell.active.strategies import (
    STRATEGIES,
    DiverseBatch,
    Entropy,
    LeastConfidence,
    Margin,
    RandomSampling,
    make_strategy,
)
from groundswell.active.threshold import (
    ThresholdChoice,
    accuracy_lower_bound,
    select_class_thresholds,
    select_threshold,
)
from groundswell.active.voting import (
    apply_temperature,
    expected_calibration_error,
    fit_posteriors,
    fit_temperature,
    model_prior,
    posterior,
    symmetric_confusion,
    worker_confusion,
)

__all__ = [
    "DEFAULT_ACCURACY_TARGET",
    "MIN_ITEMS",
    "STRATEGIES",
    "AutoLabelSettings",
    "DiverseBatch",
    "EmptyPoolError",
    "Entropy",
    "LeastConfidence",
    "Margin",
    "PoolExhaustedError",
    "QueryStrategy",
    "RandomSampling",
    "RoundResult",
    "ThresholdChoice",
    "UncertaintyStrategy",
    "accuracy_lower_bound",
    "apply_temperature",
    "auto_label_round",
    "expected_calibration_error",
    "featurize",
    "fit_posteriors",
    "fit_temperature",
    "make_strategy",
    "model_prior",
    "posterior",
    "select_class_thresholds",
    "select_threshold",
    "stable_uniform",
    "symmetric_confusion",
    "validation_share",
    "worker_confusion",
]

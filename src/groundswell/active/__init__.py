"""Active learning and automated labeling, pure (numpy, scipy, scikit-learn; no database, no settings).

Which function when:

- a query strategy (:class:`RandomSampling`, :class:`LeastConfidence`, :class:`Margin`, :class:`Entropy`,
  :class:`DiverseBatch`, or :func:`make_strategy` by name) to pick the next items for people;
- :func:`select_threshold` / :func:`select_class_thresholds` to pick the confidence above which machine
  labels meet an accuracy target, with a lower confidence bound (default) or Ground Truth's point rule;
- :func:`auto_label_round` for a whole round: train, choose the threshold, machine-label, rank the rest;
- :class:`AutoLabelSettings` to read and validate a job's settings keys;
- :func:`estimate_accuracy`, :func:`expected_gain` and :func:`choose_reopen` for a job-level accuracy
  target: how accurate the labels are, and where one more answer pays most (``--accuracy-target``);
- :func:`fit_temperature` / :func:`apply_temperature` to calibrate the model's probabilities.
"""

from groundswell.active.base import EmptyPoolError, PoolExhaustedError, QueryStrategy, UncertaintyStrategy
from groundswell.active.crossfit import fold_assignment
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
from groundswell.active.target import AccuracyEstimate, choose_reopen, estimate_accuracy, expected_gain
from groundswell.active.threshold import (
    ThresholdChoice,
    accuracy_lower_bound,
    gold_gate,
    select_class_thresholds,
    select_threshold,
    soft_hits,
)
from groundswell.active.voting import apply_temperature, expected_calibration_error, fit_temperature

__all__ = [
    "DEFAULT_ACCURACY_TARGET",
    "MIN_ITEMS",
    "STRATEGIES",
    "AccuracyEstimate",
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
    "choose_reopen",
    "estimate_accuracy",
    "expected_calibration_error",
    "expected_gain",
    "featurize",
    "fit_temperature",
    "fold_assignment",
    "gold_gate",
    "make_strategy",
    "select_class_thresholds",
    "select_threshold",
    "soft_hits",
    "stable_uniform",
    "validation_share",
]

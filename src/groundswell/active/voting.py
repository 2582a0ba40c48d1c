"""Calibrating the auto-label model's probabilities: temperature scaling and the expected calibration error.

The model's probabilities serve as machine-label confidences and as the prior of each tweet's posterior
(:class:`groundswell.consolidate.PriorDawidSkene`), so they are calibrated on held-out human labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from groundswell.active.base import FloatArray
from groundswell.errors import InvalidInputError

__all__ = ["apply_temperature", "expected_calibration_error", "fit_temperature"]


#: The round's temperature range: narrower than a trained model's (:data:`ml.calibration.TEMPERATURE_BOUNDS`),
#: because a round fits it on out-of-fold predictions of a job's first few hundred labels.
ROUND_BOUNDS = (0.25, 8.0)
#: Below this many held-out labels no temperature is fitted (1.0).
MIN_LABELS = 20


def apply_temperature(proba: Any, temperature: float) -> FloatArray:
    """Probabilities with their log-odds divided by ``temperature`` (> 1 softens, < 1 sharpens). Zeros (a
    class the round's training labels lacked) become 1e-12 first, so every class keeps a sliver of mass."""
    from groundswell.ml import calibration  # on use: importing groundswell.ml loads scikit-learn

    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)
    return calibration.apply_temperature(p / p.sum(axis=1, keepdims=True), temperature)


def fit_temperature(proba: Any, labels: Any, *, bounds: tuple[float, float] = ROUND_BOUNDS) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (Guo et al., 2017), by
    :func:`groundswell.ml.calibration.fit_temperature`; 1.0 when there are too few labels (under
    :data:`MIN_LABELS`) to fit one number reliably."""
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(labels, dtype=np.intp)
    if p.ndim != 2 or len(y) != len(p):
        raise InvalidInputError("proba must be (items, classes) with one label per item")
    if len(y) < MIN_LABELS:
        return 1.0
    from groundswell.ml import calibration

    return calibration.fit_temperature(np.clip(p, 1e-12, 1.0), y, bounds=bounds)


def expected_calibration_error(confidence: Any, correct: Any, *, n_bins: int = 10) -> float:
    """Count-weighted mean |accuracy − confidence| over ``n_bins`` equal-width confidence bins."""
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    if conf.shape != hit.shape:
        raise InvalidInputError("confidence and correct must be equally long")
    if len(conf) == 0:
        return 0.0
    bins = np.minimum((conf * n_bins).astype(np.intp), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        mask = bins == b
        total += mask.sum() * abs(hit[mask].mean() - conf[mask].mean())
    return float(total / len(conf))

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


def apply_temperature(proba: Any, temperature: float) -> FloatArray:
    """Probabilities with their log-odds divided by ``temperature`` (> 1 softens, < 1 sharpens)."""
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)
    logits = np.log(p) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return np.asarray(out / out.sum(axis=1, keepdims=True), dtype=np.float64)


def fit_temperature(proba: Any, labels: Any, *, bounds: tuple[float, float] = (0.25, 8.0)) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (Guo et al., 2017); 1.0 when
    there are too few labels (under 20) to fit one number reliably."""
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(labels, dtype=np.intp)
    if p.ndim != 2 or len(y) != len(p):
        raise InvalidInputError("proba must be (items, classes) with one label per item")
    if len(y) < 20:
        return 1.0
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        q = apply_temperature(p, float(np.exp(log_t)))
        return float(-np.mean(np.log(np.clip(q[np.arange(len(y)), y], 1e-12, None))))

    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    found = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    return float(np.exp(found.x))


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

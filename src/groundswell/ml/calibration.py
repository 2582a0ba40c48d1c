"""Temperature scaling of a trained model's probabilities, and the expected calibration error that judges it.

Why: a logistic regression on hundreds of thousands of sparse n-grams is usually overconfident on tweets it
has not seen (and a class-balanced one is skewed as well), yet its probabilities are read as confidences:
the ``confidence`` of a served prediction, the output-manifest ``confidence``, a person's review threshold.
One number ``T`` fitted on held-out labels (Guo et al., 2017) fixes most of that without changing any
prediction's top class: ``softmax(log(p) / T)``, ``T > 1`` softens, ``T < 1`` sharpens.

Pure numpy/scipy; the trainer fits ``T`` on its validation split and stores it in the model card
(``params["temperature"]``), and :class:`groundswell.serve.Predictor` applies it everywhere probabilities
leave a saved model. A card without a temperature means ``T = 1``: probabilities unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from groundswell.errors import InvalidInputError

__all__ = [
    "ECE_BINS",
    "TEMPERATURE_BOUNDS",
    "apply_temperature",
    "card_temperature",
    "expected_calibration_error",
    "fit_temperature",
]

#: The range the temperature is searched in: wide enough for any sane model, narrow enough that a validation
#: split the model gets entirely right cannot drive it to 0 (every probability 1).
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: Equal-width bins on the top-class confidence for :func:`expected_calibration_error`.
ECE_BINS = 10


def _log(proba: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(p)`` with ``log(0) = -inf`` and no warning: a class the model never saw keeps probability 0."""
    out = np.full(proba.shape, -np.inf)
    np.log(proba, out=out, where=proba > 0)
    return out


def _matrix(proba: ArrayLike) -> NDArray[np.float64]:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 1:
        raise InvalidInputError(f"probabilities must be a (texts, classes) matrix, got shape {p.shape}")
    return p


def apply_temperature(proba: ArrayLike, temperature: float) -> NDArray[np.float64]:
    """``softmax(log(p) / T)`` row by row; ``T = 1`` returns the probabilities as they are (a copy)."""
    p = _matrix(proba)
    if not temperature > 0:
        raise InvalidInputError(f"temperature must be positive, got {temperature}")
    if temperature == 1.0 or p.shape[0] == 0:
        return p.copy()
    logits = _log(p) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    result: NDArray[np.float64] = out / out.sum(axis=1, keepdims=True)
    return result


def _nll(logp: NDArray[np.float64], labels: NDArray[np.intp], temperature: float) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logp / T)``."""
    z = logp / temperature
    top = z.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(labels)), labels]))


def fit_temperature(proba: ArrayLike, labels: ArrayLike, *, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """The ``T`` in ``bounds`` minimising the negative log-likelihood of ``labels`` under ``softmax(log(p)/T)``.

    Searched on ``log T`` (bounded scalar search) so that halving and doubling weigh the same. Rows whose
    true class has probability 0 are left out: no temperature can change a 0, so they carry no information
    about ``T`` (and would make every ``T`` infinitely bad). 1.0 when no row is left.
    """
    p = _matrix(proba)
    y = np.asarray(labels, dtype=np.intp)
    if y.shape != (p.shape[0],):
        raise InvalidInputError(f"need one label per row: {p.shape[0]} rows, labels of shape {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
        raise InvalidInputError(f"labels must be class indices below {p.shape[1]}")
    low, high = bounds
    if not 0 < low <= high:
        raise InvalidInputError(f"temperature bounds must satisfy 0 < low <= high, got {bounds}")
    usable = p[np.arange(len(y)), y] > 0
    if not usable.any():
        return 1.0
    logp = _log(p[usable])
    # -inf entries (classes never predicted) stay -inf at any T: replace them by a huge finite negative so the
    # arithmetic has no inf - inf, without changing any probability the likelihood sees.
    logp = np.where(np.isfinite(logp), logp, -1e300)
    target = y[usable]
    from scipy.optimize import minimize_scalar

    found: Any = minimize_scalar(
        lambda log_t: _nll(logp, target, float(np.exp(log_t))),
        bounds=(float(np.log(low)), float(np.log(high))),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.clip(np.exp(found.x), low, high))


def expected_calibration_error(proba: ArrayLike, labels: ArrayLike, *, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top class: the count-weighted mean ``|accuracy − confidence|`` over
    ``n_bins`` equal-width bins of the top-class probability (a confidence of exactly 1 is in the last bin)."""
    p = _matrix(proba)
    y = np.asarray(labels, dtype=np.intp)
    if y.shape != (p.shape[0],):
        raise InvalidInputError(f"need one label per row: {p.shape[0]} rows, labels of shape {y.shape}")
    if n_bins < 1:
        raise InvalidInputError(f"n_bins must be at least 1, got {n_bins}")
    if len(y) == 0:
        return 0.0
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    bins = np.minimum((confidence * n_bins).astype(np.intp), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.abs(
        np.bincount(bins, weights=correct, minlength=n_bins) - np.bincount(bins, weights=confidence, minlength=n_bins)
    )
    return float(gap.sum() / counts.sum())


def card_temperature(params: dict[str, Any]) -> float:
    """The temperature a model card's ``params`` ask for: ``params["temperature"]``, or 1.0 for a card that
    has none (written before calibration existed) or ``null`` (an auto-label round that fitted none)."""
    value = params.get("temperature")
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidInputError(f"model card: temperature must be a positive number, got {value!r}")
    return float(value)

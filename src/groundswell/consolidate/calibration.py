"""Measuring and repairing the confidence of consolidated labels.

Use :func:`expected_calibration_error` (and :func:`reliability_table` to see where it comes from) to check
that a confidence of 0.8 is right about 80% of the time. Dawid–Skene posteriors are not: they assume
workers err independently given the true label, while real crowds share mistakes on hard items, so the
evidence is counted many times over and posteriors pile up near 1.0. The aggregators repair this with one
parameter, the within-task error correlation ``ρ``: ``n`` judgments of a task count as
``n / (1 + ρ(n − 1))`` independent ones (:func:`evidence_weight`), a temperature that grows with the
number of judgments, so it stays right when dynamic redundancy gives contested tasks more judgments.
:func:`fit_error_correlation` fits ``ρ`` on gold tasks when there are enough of them, and
:func:`fit_error_correlation_heldout` fits it without gold, by predicting each judgment from the others.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import minimize_scalar

from groundswell.errors import InvalidInputError

__all__ = [
    "CORRELATION_BOUNDS",
    "calibrated_posterior",
    "evidence_weight",
    "expected_calibration_error",
    "fit_error_correlation",
    "fit_error_correlation_heldout",
    "log_normalise",
    "reliability_table",
]

FloatArray = npt.NDArray[np.float64]

#: Search range for the within-task error correlation ``ρ`` (see :func:`evidence_weight`).
CORRELATION_BOUNDS: tuple[float, float] = (0.0, 1.0)


def _bins(
    confidence: npt.ArrayLike, correct: npt.ArrayLike, n_bins: int
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    hit = np.asarray(correct, dtype=np.float64).ravel()
    if conf.shape != hit.shape:
        raise InvalidInputError(f"confidence has {conf.size} values but correct has {hit.size}")
    if conf.size == 0:
        raise InvalidInputError("no predictions to measure calibration on")
    if n_bins < 1:
        raise InvalidInputError(f"n_bins must be at least 1, got {n_bins}")
    if not np.all(np.isfinite(conf)) or conf.min() < 0.0 or conf.max() > 1.0:
        raise InvalidInputError("confidence values must be finite and between 0 and 1")
    which = np.minimum((conf * n_bins).astype(np.intp), n_bins - 1)
    return conf, hit, which


def reliability_table(confidence: npt.ArrayLike, correct: npt.ArrayLike, *, n_bins: int = 10) -> pd.DataFrame:
    """Accuracy against mean confidence in equal-width confidence bins (the data of a reliability plot).

    Args:
        confidence: Confidence of each predicted label, in ``[0, 1]``.
        correct: Whether each predicted label was right (bool or 0/1).
        n_bins: Number of equal-width bins over ``[0, 1]``; empty bins are left out.

    Returns:
        One row per non-empty bin: ``lower, upper, count, confidence, accuracy``.
    """
    conf, hit, which = _bins(confidence, correct, n_bins)
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    used = count > 0
    lower = np.arange(n_bins, dtype=np.float64) / n_bins
    return pd.DataFrame(
        {
            "lower": lower[used],
            "upper": lower[used] + 1.0 / n_bins,
            "count": count[used].astype(np.int64),
            "confidence": np.bincount(which, weights=conf, minlength=n_bins)[used] / count[used],
            "accuracy": np.bincount(which, weights=hit, minlength=n_bins)[used] / count[used],
        }
    )


def expected_calibration_error(confidence: npt.ArrayLike, correct: npt.ArrayLike, *, n_bins: int = 10) -> float:
    """Expected calibration error: the count-weighted mean gap between confidence and accuracy per bin.

    ``ECE = Σ_b (n_b / n) · |accuracy_b − confidence_b|`` over ``n_bins`` equal-width bins (Naeini et al.,
    2015; Guo et al., 2017). 0 is perfect; a method that says 0.99 and is right 85% of the time scores
    about 0.14.

    Args:
        confidence: Confidence of each predicted label, in ``[0, 1]``.
        correct: Whether each predicted label was right (bool or 0/1).
        n_bins: Number of equal-width bins.

    Returns:
        The ECE, in ``[0, 1]``.

    Examples:
        >>> expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, False, True, False])
        0.25
    """
    table = reliability_table(confidence, correct, n_bins=n_bins)
    weights = table["count"].to_numpy() / table["count"].sum()
    gap = np.abs(table["accuracy"].to_numpy() - table["confidence"].to_numpy())
    return float(np.round(np.sum(weights * gap), 12))


def evidence_weight(n_answers: npt.ArrayLike, correlation: float) -> FloatArray:
    """Weight of a task's summed judgment evidence when errors are correlated within a task.

    With correlation ``ρ`` between workers' errors on one task, ``n`` judgments carry as much information
    as ``n / (1 + ρ(n − 1))`` independent ones (Kish's design effect), so each log-likelihood term is
    scaled by ``1 / (1 + ρ(n − 1))``: a per-task temperature that grows with the number of judgments.
    ``ρ = 0`` is plain Dawid–Skene; ``ρ = 1`` counts all judgments of a task as one.
    """
    n = np.maximum(np.asarray(n_answers, dtype=np.float64), 1.0)
    return 1.0 / (1.0 + correlation * (n - 1.0))


def log_normalise(scores: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Row-wise log-softmax and log-sum-exp of a ``(n, k)`` score table, in one pass.

    Equivalent to ``scipy.special.log_softmax(scores, axis=1)`` and ``logsumexp(scores, axis=1)`` for finite
    scores, but written column by column for the few labels of a crowd: on a million tasks it is several
    times faster than scipy's general version, and EM and calibration call it dozens of times per fit.

    Returns:
        ``log p`` (rows sum to 1 after ``exp``) and the per-row normaliser.
    """
    columns = scores.shape[1]
    top = scores[:, 0].copy()
    for c in range(1, columns):
        np.maximum(top, scores[:, c], out=top)
    shifted = scores - top[:, None]
    total = np.exp(shifted[:, 0])
    for c in range(1, columns):
        total += np.exp(shifted[:, c])
    log_total = np.log(total)
    shifted -= log_total[:, None]
    return shifted, top + log_total


def calibrated_posterior(
    log_prior: FloatArray, log_lik: FloatArray, n_answers: npt.ArrayLike, correlation: float
) -> FloatArray:
    """Posterior with judgment evidence discounted for within-task error correlation (rows sum to 1).

    Args:
        log_prior: Log class prior, shape ``(n_labels,)``.
        log_lik: Per task, ``Σ_j log C_j[t, label_j]``, shape ``(n_tasks, n_labels)``.
        n_answers: Judgments per task.
        correlation: ``ρ`` (see :func:`evidence_weight`).
    """
    # Label-major (``(n_labels, n)``) work: contiguous rows whatever the input's layout, and no log pass.
    scores = evidence_weight(n_answers, correlation) * np.asarray(log_lik, dtype=np.float64).T
    scores += np.asarray(log_prior, dtype=np.float64)[:, None]
    scores -= scores.max(axis=0)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=0)
    return np.asarray(scores.T)


def _minimise(loss: Callable[[float], float]) -> float:
    lo, hi = CORRELATION_BOUNDS
    result = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    return float(result.x)


def fit_error_correlation(
    log_prior: FloatArray, log_lik: FloatArray, n_answers: npt.ArrayLike, target: npt.NDArray[np.intp]
) -> float:
    """The ``ρ`` that best predicts known (gold) labels, by negative log-likelihood.

    The worker matrices behind ``log_lik`` were fitted with the gold labels known, so the gold tasks look
    a little easier than new ones and ``ρ`` comes out slightly low; with a few hundred gold tasks among
    thousands the effect is small.

    Args:
        log_prior: Log class prior.
        log_lik: Judgment evidence of the gold tasks, computed as if their labels were unknown.
        n_answers: Judgments per gold task.
        target: Class index of each gold label.

    Returns:
        ``ρ`` within :data:`CORRELATION_BOUNDS`.
    """
    rows = np.arange(len(target))

    def loss(rho: float) -> float:
        p = calibrated_posterior(log_prior, log_lik, n_answers, rho)
        return float(-np.mean(np.log(np.maximum(p[rows, target], 1e-300))))

    return _minimise(loss)


def fit_error_correlation_heldout(
    log_prior: FloatArray, others_lik: FloatArray, n_others: npt.ArrayLike, heldout_probs: FloatArray
) -> float:
    """The ``ρ`` that best predicts each judgment from the other judgments of its task (no gold needed).

    For a judgment of worker ``j`` on task ``i``, the other judgments give a discounted posterior ``p``;
    the judgment is then predicted as ``P(label) = Σ_t p_t · C_j[t, label]``. Overconfident posteriors
    predict the dissenting votes on contested tasks badly, so ``ρ`` grows with how much workers err
    together. It cannot see mistakes the whole crowd shares (only gold can), so it corrects less than a
    gold fit; ``bench/RESULTS.md`` measures how much.

    Args:
        log_prior: Log class prior.
        others_lik: Evidence of the task's other judgments, shape ``(m, n_labels)``.
        n_others: How many other judgments that evidence sums.
        heldout_probs: ``C_j[t, label]`` re-estimated without the judgment itself, so a worker's matrix
            does not already "know" the answer it is asked to predict.

    Returns:
        ``ρ`` within :data:`CORRELATION_BOUNDS`.
    """

    # Σ_t p_t · C[t, label] with p = softmax(s): Σ_t e^(s_t − max) · C[t, label] / Σ_t e^(s_t − max), so the
    # posterior is never normalised on its own. Label-major copies keep every pass contiguous, and the
    # buffers are allocated once: fresh temporaries of this size can cost a page fault per 4 KiB on every
    # one of the ~20 evaluations, which took longer than the arithmetic.
    lik = np.ascontiguousarray(np.asarray(others_lik, dtype=np.float64).T)
    held = np.ascontiguousarray(np.asarray(heldout_probs, dtype=np.float64).T)
    spread = np.maximum(np.asarray(n_others, dtype=np.float64), 1.0) - 1.0
    prior = np.asarray(log_prior, dtype=np.float64)[:, None]
    scores = np.empty_like(lik)
    weight, total, predicted = np.empty(lik.shape[1]), np.empty(lik.shape[1]), np.empty(lik.shape[1])

    def loss(rho: float) -> float:
        np.multiply(spread, rho, out=weight)
        np.add(weight, 1.0, out=weight)
        np.divide(1.0, weight, out=weight)
        np.multiply(lik, weight, out=scores)
        np.add(scores, prior, out=scores)
        np.max(scores, axis=0, out=total)
        np.subtract(scores, total, out=scores)
        np.exp(scores, out=scores)
        np.einsum("ij,ij->j", scores, held, out=predicted)
        np.sum(scores, axis=0, out=total)
        np.divide(predicted, total, out=predicted)
        np.maximum(predicted, 1e-300, out=predicted)
        np.log(predicted, out=predicted)
        return float(-predicted.mean())

    return _minimise(loss)

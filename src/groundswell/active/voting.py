"""The model as one more voter, and how sure an item's label is given who answered what.

Dynamic redundancy asks one more person only while an item is unsure. "Unsure" here is a posterior over the
true class (naive Bayes, as in Dawid–Skene's E-step):

    P(true = c | answers) ∝ prior(c) · Π_workers confusion_w[c, answer_w]

* **prior**: the auto-label model's calibrated probability when the model has voted on the item (the model
  as one more voter: one person agreeing with a confident model can settle the item, a person disagreeing
  leaves it unsure and asks for more), otherwise uniform.
* **confusion_w**: the worker's confusion matrix from the job's latest Dawid–Skene fit, shrunk towards a
  symmetric matrix of a default accuracy by ``strength`` pseudo-answers, so a worker seen a few times is
  neither trusted nor distrusted much.

Also here: temperature scaling and the expected calibration error, so the model's probabilities that serve as
priors and as machine-label confidences are calibrated on held-out human labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from groundswell.active.base import FloatArray
from groundswell.errors import InvalidInputError

__all__ = [
    "MAX_PRIOR",
    "apply_temperature",
    "expected_calibration_error",
    "fit_posteriors",
    "fit_temperature",
    "model_prior",
    "posterior",
    "symmetric_confusion",
    "worker_confusion",
]

#: A prior never says more than this: a model vote alone must never settle an item.
MAX_PRIOR = 0.99
#: Pseudo-items behind the class shares :func:`fit_posteriors` re-estimates.
_SHARE_STRENGTH = 100.0


def symmetric_confusion(accuracy: float, n_classes: int) -> FloatArray:
    """A confusion matrix that is right with probability ``accuracy`` and spreads errors evenly."""
    if n_classes < 2:
        raise InvalidInputError("a confusion matrix needs at least 2 classes")
    accuracy = float(np.clip(accuracy, 1e-3, 1 - 1e-3))
    matrix = np.full((n_classes, n_classes), (1.0 - accuracy) / (n_classes - 1))
    np.fill_diagonal(matrix, accuracy)
    return matrix


def worker_confusion(
    n_classes: int,
    *,
    confusion: Any | None = None,
    accuracy: float | None = None,
    answers: int = 0,
    default_accuracy: float = 0.7,
    strength: float = 10.0,
) -> FloatArray:
    """A worker's confusion matrix (rows: true class, columns: given answer) for :func:`posterior`.

    Args:
        n_classes: Number of labels.
        confusion: The fitted matrix (Dawid–Skene), if any.
        accuracy: The fitted accuracy, used as a symmetric matrix when there is no ``confusion``.
        answers: How many answers the fit saw from this worker.
        default_accuracy: What an unknown worker is assumed to be.
        strength: Pseudo-answers of the default mixed in: ``(answers·fitted + strength·default) / (answers +
            strength)``.
    """
    default = symmetric_confusion(default_accuracy, n_classes)
    if confusion is not None:
        fitted = np.asarray(confusion, dtype=np.float64)
        if fitted.shape != (n_classes, n_classes) or not np.isfinite(fitted).all():
            fitted = default
    elif accuracy is not None and np.isfinite(accuracy):
        fitted = symmetric_confusion(accuracy, n_classes)
    else:
        fitted = default
    n = max(float(answers), 0.0)
    mixed = (n * fitted + strength * default) / (n + strength) if n + strength > 0 else default
    mixed = np.clip(mixed, 1e-4, None)
    return np.asarray(mixed / mixed.sum(axis=1, keepdims=True), dtype=np.float64)


def model_prior(label: int | None, confidence: float | None, n_classes: int) -> FloatArray:
    """The prior the model's vote gives: ``confidence`` on its class, the rest spread evenly; uniform
    without a vote. The confidence is clipped to [1/k, 0.99] so no vote is certain."""
    if label is None or confidence is None or not 0 <= label < n_classes or not np.isfinite(confidence):
        return np.full(n_classes, 1.0 / n_classes)
    top = float(np.clip(confidence, 1.0 / n_classes, MAX_PRIOR))
    prior = np.full(n_classes, (1.0 - top) / (n_classes - 1))
    prior[label] = top
    return prior


def posterior(prior: Any, confusions: Sequence[Any], answers: Sequence[int]) -> FloatArray:
    """``P(true class | answers)``: the prior times each answer's column of its worker's confusion matrix."""
    if len(confusions) != len(answers):
        raise InvalidInputError("one confusion matrix per answer")
    log_p = np.log(np.clip(np.asarray(prior, dtype=np.float64), 1e-12, None))
    for matrix, answer in zip(confusions, answers, strict=True):
        log_p = log_p + np.log(np.clip(np.asarray(matrix, dtype=np.float64)[:, answer], 1e-12, None))
    p = np.exp(log_p - log_p.max())
    return np.asarray(p / p.sum(), dtype=np.float64)


def fit_posteriors(
    tasks: Any,
    workers: Any,
    answers: Any,
    priors: Any,
    n_workers: int,
    *,
    default_accuracy: float = 0.7,
    strength: float = 10.0,
    n_iter: int = 50,
    class_shares: bool = True,
) -> tuple[FloatArray, FloatArray]:
    """Dawid–Skene's EM with a prior per item: every item's posterior and every worker's confusion matrix.

    The E-step is :func:`posterior` for every item at once, with ``priors[i]`` (the model's vote, or uniform)
    in place of Dawid–Skene's single class prior: so the model takes part as one more voter on every item it
    voted on, and a worker's skill is measured even on items only they answered. The M-step counts each
    worker's expected (true, given) pairs and adds ``strength`` pseudo-answers of a symmetric matrix of
    ``default_accuracy`` per true class (a Dirichlet prior: a worker seen a few times stays near the default,
    one seen hundreds of times is their own). No gold is needed.

    Args:
        tasks: Item position (``0 .. len(priors) − 1``) of each answer.
        workers: Worker position (``0 .. n_workers − 1``) of each answer.
        answers: Class index of each answer.
        priors: ``(items, classes)`` prior per item, rows summing to 1.
        n_workers: Number of workers.
        default_accuracy: The accuracy the pseudo-answers assume.
        strength: Pseudo-answers per true class.
        n_iter: EM iterations (it converges in a few dozen on crowd data).
        class_shares: Also re-estimate how common each class is (Dawid–Skene's class prior): every prior is
            reweighted by ``π_posterior(c) / π_priors(c)``, the mean posterior over the mean prior (Saerens et
            al., 2002). A model trained with balanced class weights under-predicts the common class; this
            puts it back, and gives items without a model vote the job's class shares instead of uniform.
            The shares start from 100 pseudo-items at the priors' mean, so a handful of items moves nothing.

    Returns:
        ``(posteriors, confusions)``: ``(items, classes)`` and ``(n_workers, classes, classes)`` (rows: true
        class, columns: given answer).
    """
    prior = np.asarray(priors, dtype=np.float64)
    t = np.asarray(tasks, dtype=np.intp)
    w = np.asarray(workers, dtype=np.intp)
    a = np.asarray(answers, dtype=np.intp)
    if prior.ndim != 2 or not len(t) == len(w) == len(a):
        raise InvalidInputError("priors must be (items, classes) and tasks, workers, answers equally long")
    k = prior.shape[1]
    if len(t) and (t.min() < 0 or t.max() >= len(prior) or w.min() < 0 or w.max() >= n_workers or a.max() >= k):
        raise InvalidInputError("an answer points outside the items, workers or classes")
    default = symmetric_confusion(default_accuracy, k)
    pseudo = max(float(strength), 1e-6) * default
    confusions = np.repeat(default[None], n_workers, axis=0)
    base_prior = np.log(np.clip(prior, 1e-12, None))
    log_prior = base_prior
    prior_shares = prior.mean(axis=0) if len(prior) else np.full(k, 1.0 / k)
    shift = np.zeros(k)
    classes = np.arange(k)

    def e_step(matrices: FloatArray) -> FloatArray:
        log_p = log_prior.copy()
        np.add.at(log_p, t, np.log(np.clip(matrices[w, :, a], 1e-12, None)))
        p = np.exp(log_p - log_p.max(axis=1, keepdims=True))
        return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float64)

    post = e_step(confusions)
    for _ in range(n_iter):
        counts = np.zeros((n_workers, k, k))
        np.add.at(counts, (w[:, None], classes[None, :], a[:, None]), post[t])
        smoothed = counts + pseudo[None]
        updated = smoothed / smoothed.sum(axis=2, keepdims=True)
        converged = np.abs(updated - confusions).max() < 1e-5
        confusions = updated
        if class_shares and len(post):
            # The shares carry _SHARE_STRENGTH pseudo-items of the priors' own: a handful of items moves nothing.
            shares = (post.sum(axis=0) + _SHARE_STRENGTH * prior_shares) / (len(post) + _SHARE_STRENGTH)
            ratio = np.clip(shares, 1e-3, None) / np.clip(prior_shares, 1e-3, None)
            converged = converged and bool(np.abs(np.log(ratio) - shift).max() < 1e-4)
            shift = np.log(ratio)
            log_prior = base_prior + shift[None, :]
        post = e_step(confusions)
        if converged:
            break
    return post, np.asarray(confusions, dtype=np.float64)


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

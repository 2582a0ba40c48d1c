"""Dawid–Skene with a prior per task: the consolidation model of jobs that label with a model in the loop.

A job that auto-labels has, for many tweets, a calibrated guess from a model that never saw their labels.
That guess is worth an answer or more, so it enters each task's posterior as its prior:

    P(true = c | answers) ∝ prior_i(c)^(1/T) · share-shift(c) · Π_answers C_worker[c, answer]

Every number in it is estimated from the job's own answers, by EM, so nothing is tuned to one crowd:

* **worker confusions** ``C_w`` (rows: true class, columns: answer) are shrunk toward the **crowd's pooled
  confusion**, not toward an assumed accuracy: ``C_w ∝ counts_w + s · C_crowd`` per true class. The strength
  ``s`` (pseudo-answers per true class) is itself estimated by the method of moments from how much workers'
  accuracies spread beyond what their answer counts explain (a Beta prior with mean ``μ`` and concentration
  ``s`` has variance ``μ(1−μ)/(s+1)``): a crowd of similar workers shrinks hard, a crowd with spammers next
  to experts lets each worker be themselves sooner. A worker with 5 answers is thus close to the crowd;
  one with 500 is their own. The crowd's matrix itself carries a weak prior (:data:`_CROWD_PRIOR_ANSWERS`
  answers per class of "mostly right"), which matters only while a job has a handful of answers.
* **class shares**: tasks without a prior get the crowd's class shares, and every prior is reweighted by the
  ratio of the posterior's shares to the priors' (Saerens et al., 2002): a model trained with balanced class
  weights under-predicts the common class, and this puts it back.
* **prior temperature** ``T``: the model's probabilities are sharpened or softened to the value that makes
  the answers most likely (one number, EM's M-step: maximum likelihood), so an over- or under-confident
  model does not bend the labels. No prior says more than :data:`MAX_PRIOR`: a model alone never settles a
  task.

Gold tasks have their gold label as a (near) certain prior: they measure their workers and are left out of
the outputs, as in every aggregator.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from groundswell.consolidate._encoding import EncodedAnswers
from groundswell.consolidate._validation import AnswersLike, GoldLike
from groundswell.consolidate.base import BaseAggregator, FloatArray, RandomState
from groundswell.errors import InvalidInputError

__all__ = ["MAX_PRIOR", "PriorDawidSkene", "expected_confusion", "vote_prior"]

#: A prior never says more than this: one answer against the model must still be able to win.
MAX_PRIOR = 0.99
#: Pseudo-items per class behind the re-estimated class shares (a symmetric Dirichlet): enough that three tasks
#: do not make a class common, too few to hold up a class nobody's answers support (a strong pull toward equal
#: shares lets an empty class absorb tasks whose answers merely disagree).
_SHARE_PSEUDO_ITEMS = 3.0
#: A weak prior on the crowd's pooled confusion, so that a job with a handful of answers starts from
#: "workers are mostly right" (symmetric, this accuracy) instead of from nothing; it is worth this many
#: answers per true class, nothing next to the hundreds a job soon has.
_CROWD_PRIOR_ACCURACY = 0.7
_CROWD_PRIOR_ANSWERS = 10.0
#: Range of the estimated shrinkage strength (pseudo-answers per true class).
_STRENGTH_RANGE = (1.0, 200.0)
#: Range of the prior temperature.
_TEMPERATURE_RANGE = (0.25, 4.0)


def _log(x: FloatArray) -> FloatArray:
    return np.asarray(np.log(np.clip(x, 1e-12, None)), dtype=np.float64)


def _softmax_rows(log_p: FloatArray) -> FloatArray:
    p = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float64)


def vote_prior(label: int | None, confidence: float | None, n_classes: int) -> FloatArray:
    """The prior a model's bare vote gives (its class and probability, without the other classes'):
    ``confidence`` on its class, the rest spread evenly, capped at :data:`MAX_PRIOR`; uniform without a vote."""
    if label is None or confidence is None or not 0 <= label < n_classes or not np.isfinite(confidence):
        return np.full(n_classes, 1.0 / n_classes)
    top = float(np.clip(confidence, 1.0 / n_classes, MAX_PRIOR))
    prior = np.full(n_classes, (1.0 - top) / (n_classes - 1))
    prior[label] = top
    return prior


def expected_confusion(confusions: Any, weights: Any | None = None) -> FloatArray:
    """The confusion matrix of the next answer from a worker drawn like the past ones: the mean of the
    workers' matrices weighted by how many answers each gave (``weights``; equal without)."""
    mats = np.asarray(confusions, dtype=np.float64)
    if mats.ndim != 3 or mats.shape[1] != mats.shape[2]:
        raise InvalidInputError("confusions must be (workers, classes, classes)")
    w = np.ones(len(mats)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(w) != len(mats) or w.sum() <= 0:
        raise InvalidInputError("one positive weight per worker")
    mean = np.einsum("w,wij->ij", w / w.sum(), mats)
    return np.asarray(mean / mean.sum(axis=1, keepdims=True), dtype=np.float64)


class PriorDawidSkene(BaseAggregator):
    """Dawid–Skene whose ``fit`` takes an optional prior per task (module docstring).

    Args:
        labels: The job's labels in order (default: sorted labels found).
        strength: Pseudo-answers per true class shrinking each worker toward the crowd; ``None`` (default)
            estimates it from the answers (module docstring).
        learn_temperature: Fit the prior's temperature (default) or take the priors as calibrated.
        class_shares: Re-estimate class shares (default).
        n_iter: Most EM iterations.
        tol: Stop when no confusion entry moves more than this.
        random_state: Seed for breaking exact ties.

    Attributes:
        confusions_: Per worker and true label, the probability of each given label (DataFrame indexed by
            ``(worker, true_label)``, one column per label), as :class:`DawidSkene` has.
        shares_: Estimated class shares (Series label → share).
        strength_: The shrinkage strength used.
        temperature_: The fitted prior temperature (1.0 when not learned or no task had a prior).
        crowd_confusion_: The crowd's pooled confusion matrix (DataFrame true × given).
        answers_per_worker_: Answers each worker gave (Series).
        answer_probas_: For non-gold tasks, the posterior from their answers and the class shares alone, without
            the per-task prior: what people say of a task, to judge a model by without the model's own vote.
        gold_probas_: For gold tasks, the posterior from their answers and prior without their gold label
            (task × label): how a gold-checked estimate of the labels' accuracy corrects itself.
        n_iter_: EM iterations run.
    """

    def __init__(
        self,
        labels: Sequence[Hashable] | None = None,
        *,
        strength: float | None = None,
        learn_temperature: bool = True,
        class_shares: bool = True,
        n_iter: int = 100,
        tol: float = 1e-5,
        random_state: RandomState = 0,
    ) -> None:
        self.labels = labels
        self.strength = strength
        self.learn_temperature = learn_temperature
        self.class_shares = class_shares
        self.n_iter = n_iter
        self.tol = tol
        self.random_state = random_state

    confusions_: pd.DataFrame
    shares_: pd.Series[float]
    strength_: float
    temperature_: float
    crowd_confusion_: pd.DataFrame
    answers_per_worker_: pd.Series[float]
    gold_probas_: pd.DataFrame
    answer_probas_: pd.DataFrame
    n_iter_: int
    _given_priors: Any = None

    def fit(self, data: AnswersLike, gold: GoldLike | None = None, priors: Any | None = None) -> Self:
        """Learn labels, probabilities, worker confusions, class shares and the prior's temperature.

        Args:
            data: Long table of judgments: ``task, worker, label``.
            gold: Known labels of some tasks (task → label).
            priors: A prior per task: DataFrame indexed by task with one column per label (rows are
                normalised; tasks missing from it, or rows with a missing value, get no prior).
        """
        self._given_priors = priors
        try:
            return super().fit(data, gold)
        finally:
            self._given_priors = None

    def fit_predict(self, data: AnswersLike, gold: GoldLike | None = None, priors: Any | None = None) -> pd.Series[Any]:
        """Fit, then return ``labels_``."""
        return self.fit(data, gold, priors).labels_

    def fit_predict_proba(
        self, data: AnswersLike, gold: GoldLike | None = None, priors: Any | None = None
    ) -> pd.DataFrame:
        """Fit, then return ``probas_``."""
        return self.fit(data, gold, priors).probas_

    def _prior_matrix(self, enc: EncodedAnswers) -> tuple[FloatArray, FloatArray, np.ndarray[Any, np.dtype[np.bool_]]]:
        """``(tasks, classes)`` prior with gold tasks' set to their gold label, the same before that, and the
        mask of non-gold tasks that have a prior."""
        k = enc.n_labels
        prior = np.full((enc.n_tasks, k), 1.0 / k)
        has = np.zeros(enc.n_tasks, dtype=bool)
        given = self._given_priors
        if given is not None:
            frame = pd.DataFrame(given)
            missing = [label for label in enc.labels if label not in frame.columns]
            if missing:
                raise InvalidInputError(f"priors lack a column for label(s) {missing}")
            values = frame.reindex(index=enc.tasks, columns=enc.labels).to_numpy(dtype=np.float64)
            ok = np.isfinite(values).all(axis=1)
            if (values[ok] < 0).any():
                raise InvalidInputError("priors must not be negative")
            sums = values[ok].sum(axis=1, keepdims=True)
            ok_rows = np.flatnonzero(ok)
            good = sums[:, 0] > 0
            rows = ok_rows[good]
            prior[rows] = np.clip(values[rows] / sums[good], 1e-4, MAX_PRIOR)
            prior[rows] /= prior[rows].sum(axis=1, keepdims=True)
            has[rows] = True
        gold = enc.is_gold
        open_prior = prior.copy()
        if gold.any():
            prior[gold] = 1e-6
            prior[gold, enc.gold[gold]] = 1.0
            prior[gold] /= prior[gold].sum(axis=1, keepdims=True)
        return np.asarray(prior, dtype=np.float64), open_prior, has & ~gold

    def _fit(self, enc: EncodedAnswers, rng: np.random.Generator) -> FloatArray:
        k = enc.n_labels
        prior, open_prior, has_prior = self._prior_matrix(enc)
        data = _Answers(enc.task, enc.worker, enc.label, enc.n_tasks, enc.n_workers, k)
        fit = _em(self, data, prior, has_prior, None if self.strength is None else float(self.strength))
        self.n_iter_ = fit.iterations
        gold_rows = np.flatnonzero(enc.is_gold)
        # What the posterior would have said of each gold task without its gold label: its calibration check.
        gold_lp = _log(open_prior[gold_rows]) / fit.temperature + fit.shift[None, :] + fit.lik[gold_rows]
        self.gold_probas_ = pd.DataFrame(_softmax_rows(gold_lp), index=enc.tasks[gold_rows], columns=enc.labels)
        # What the answers alone say (class shares, no per-task prior): a check on a model independent of it.
        answers_only = _softmax_rows(np.log(np.clip(fit.post.mean(axis=0), 1e-6, None))[None, :] + fit.lik)
        keep_rows = np.flatnonzero(~enc.is_gold)
        self.answer_probas_ = pd.DataFrame(answers_only[keep_rows], index=enc.tasks[keep_rows], columns=enc.labels)
        self.strength_ = fit.strength
        self.temperature_ = fit.temperature
        labels = enc.labels
        index = pd.MultiIndex.from_product([enc.workers, labels], names=["worker", "true_label"])
        self.confusions_ = pd.DataFrame(fit.confusions.reshape(-1, k), index=index, columns=labels)
        self.crowd_confusion_ = pd.DataFrame(fit.crowd, index=labels, columns=labels)
        keep = ~enc.is_gold
        shares = fit.post[keep].mean(axis=0) if keep.any() else np.full(k, 1.0 / k)
        self.shares_ = pd.Series(shares, index=labels, name="share")
        self.answers_per_worker_ = pd.Series(enc.answers_per_worker(), index=enc.workers, name="answers")
        self.skills_ = self._skills_series(enc, np.einsum("c,wcc->w", shares, fit.confusions))
        return fit.post


@dataclass(frozen=True)
class _Answers:
    """The coded answers EM runs on (a subset of them while cross-validating)."""

    task: Any
    worker: Any
    label: Any
    n_tasks: int
    n_workers: int
    k: int


@dataclass(frozen=True)
class _Fit:
    post: FloatArray
    confusions: FloatArray
    crowd: FloatArray
    strength: float
    temperature: float
    shift: FloatArray
    lik: FloatArray
    iterations: int


def _em(
    options: PriorDawidSkene,
    data: _Answers,
    prior: FloatArray,
    has_prior: Any,
    fixed_strength: float | None,
    *,
    n_iter: int | None = None,
) -> _Fit:
    """EM for the model of the module docstring; ``fixed_strength`` ``None`` estimates it by moments."""
    k, n_w, n_t = data.k, data.n_workers, data.n_tasks
    t, w, a = data.task, data.worker, data.label
    base = _log(prior)
    prior_rows = np.flatnonzero(has_prior)
    temperature = 1.0
    prior_shares = prior.mean(axis=0)
    shift = np.zeros(k)

    def log_prior() -> FloatArray:
        lp = base.copy()
        if len(prior_rows) and temperature != 1.0:
            lp[prior_rows] = base[prior_rows] / temperature
            lp[prior_rows] -= np.log(np.exp(lp[prior_rows]).sum(axis=1, keepdims=True))
        return np.asarray(lp + shift[None, :], dtype=np.float64)

    def log_likelihood(confusions: FloatArray) -> FloatArray:
        log_c = _log(confusions)
        lik = np.empty((n_t, k))
        for c in range(k):
            lik[:, c] = np.bincount(t, weights=log_c[w, c, a], minlength=n_t)
        return lik

    # Start from the majority vote (the prior breaking ties and placing unanswered tasks), as Dawid and Skene
    # do: a soft start lets a class nobody holds absorb a share of the others and keep it.
    votes = np.zeros((n_t, k))
    np.add.at(votes, (t, a), 1.0)
    post = _softmax_rows(base + np.log(votes + 1e-2))
    confusions = np.full((n_w, k, k), 1.0 / k)
    strength = 10.0 if fixed_strength is None else fixed_strength
    crowd = np.full((k, k), 1.0 / k)
    off = (1.0 - _CROWD_PRIOR_ACCURACY) / (k - 1) if k > 1 else 0.0
    crowd_prior = _CROWD_PRIOR_ANSWERS * (np.full((k, k), off) + np.eye(k) * (_CROWD_PRIOR_ACCURACY - off))
    lik = np.zeros((n_t, k))
    iterations = 0
    for iterations in range(1, (n_iter or options.n_iter) + 1):  # noqa: B007 (read after the loop)
        counts = np.zeros((n_w, k, k))
        for c in range(k):
            counts[:, c, :] = np.bincount(w * k + a, weights=post[t, c], minlength=n_w * k).reshape(n_w, k)
        pooled = counts.sum(axis=0) + crowd_prior
        crowd = pooled / pooled.sum(axis=1, keepdims=True)
        if fixed_strength is None:
            strength = _estimate_strength(counts)
        smoothed = counts + strength * crowd[None]
        updated = smoothed / smoothed.sum(axis=2, keepdims=True)
        moved = float(np.abs(updated - confusions).max())
        confusions = updated
        if options.class_shares and len(post):
            pseudo = _SHARE_PSEUDO_ITEMS * k
            shares = (post.sum(axis=0) + pseudo * prior_shares) / (len(post) + pseudo)
            new_shift = np.log(np.clip(shares, 1e-3, None) / np.clip(prior_shares, 1e-3, None))
            moved = max(moved, float(np.abs(new_shift - shift).max()))
            shift = new_shift
        lik = log_likelihood(confusions)
        if options.learn_temperature and len(prior_rows) >= 20:
            # EM's M-step for T: the marginal likelihood of the answers, so the fit is maximum likelihood
            # (a prior made sharper than the answers bear lowers it; it cannot confirm itself).
            new_t = _fit_temperature(base[prior_rows], shift, post[prior_rows])
            moved = max(moved, abs(np.log(new_t) - np.log(temperature)))
            temperature = new_t
        post = _softmax_rows(log_prior() + lik)
        if moved < options.tol:
            break
    return _Fit(post, confusions, crowd, float(strength), float(temperature), shift, lik, iterations)


def _estimate_strength(counts: FloatArray) -> float:
    """Method-of-moments concentration of the workers' accuracies around the crowd's (module docstring)."""
    n = counts.sum(axis=(1, 2))
    use = n >= 1
    if use.sum() < 3:
        return 10.0
    acc = np.trace(counts[use], axis1=1, axis2=2) / n[use]
    weight = n[use] / n[use].sum()
    mu = float(np.sum(weight * acc))
    spread = float(np.sum(weight * (acc - mu) ** 2))
    sampling = float(np.sum(weight * mu * (1 - mu) / n[use]))
    between = spread - sampling
    if between <= 1e-6:
        return _STRENGTH_RANGE[1]
    # A row's Dirichlet concentration is the concentration of the Beta its diagonal entry (the accuracy on that
    # class) follows, so the accuracies' concentration is the pseudo-answers per row.
    concentration = mu * (1 - mu) / between - 1.0
    return float(np.clip(concentration, *_STRENGTH_RANGE))


def _fit_temperature(base: FloatArray, shift: FloatArray, post: FloatArray) -> float:
    """The temperature that makes the tempered, share-shifted priors most likely under the posterior."""

    def loss(log_t: float) -> float:
        lp = base / np.exp(log_t) + shift[None, :]
        lp = lp - lp.max(axis=1, keepdims=True)
        lp = lp - np.log(np.exp(lp).sum(axis=1, keepdims=True))
        return float(-(post * lp).sum())

    lo, hi = np.log(_TEMPERATURE_RANGE[0]), np.log(_TEMPERATURE_RANGE[1])
    found = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    return float(np.exp(found.x))

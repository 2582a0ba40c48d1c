"""Dawid–Skene models: a confusion matrix per worker (:class:`DawidSkene`) or one accuracy per worker
(:class:`OneCoinDawidSkene`), learned jointly with the true labels by EM.

Use them when workers give enough judgments each for their quality to be estimated (see
``make_aggregator("auto")`` for the rule). The full model also learns *which* mistakes a worker makes
(e.g. calling neutral tweets positive); the one-coin model needs fewer judgments per worker.

Model (Dawid & Skene, 1979, https://doi.org/10.2307/2346806): a task's true label ``t`` is drawn from
the class prior ``π``; worker ``j`` then answers ``l`` with probability ``C_j[t, l]``, independently of
other workers. E-step: ``log p_i(t) ∝ log π_t + Σ_j log C_j[t, l_ij]``. M-step: ``C_j[t, l] ∝`` expected
counts plus a prior (``smoothing``), ``π ∝ Σ_i p_i``. Initialised from majority-vote shares.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from groundswell.consolidate._em import (
    Calibration,
    EMFit,
    IntArray,
    choose_correlation,
    heldout_confusion,
    run_em,
)
from groundswell.consolidate._encoding import EncodedAnswers
from groundswell.consolidate.base import BaseAggregator, FloatArray, RandomState
from groundswell.consolidate.calibration import calibrated_posterior

__all__ = ["DawidSkene", "OneCoinDawidSkene", "Smoothing"]

#: Prior on worker parameters: ``"crowd"`` (toward the crowd average, by data volume),
#: ``"modified"`` (Ground Truth's MDS), or ``"none"`` (maximum likelihood).
Smoothing = Literal["crowd", "modified", "none"]


def _normalise_rows(counts: FloatArray) -> FloatArray:
    """Rows to probabilities; a row without any mass (a class nobody met) becomes uniform."""
    total = counts.sum(axis=-1, keepdims=True)
    return np.where(total > 0, counts / np.where(total > 0, total, 1.0), 1.0 / counts.shape[-1])


def _diagonal(accuracy: FloatArray, k: int) -> FloatArray:
    """Matrices with ``accuracy`` on the diagonal and the rest spread evenly, shape ``(len(accuracy), k, k)``."""
    if k == 1:
        return np.ones((len(accuracy), 1, 1))
    eye = np.eye(k)
    acc = accuracy[:, None, None]
    return acc * eye + (1.0 - acc) / (k - 1) * (1.0 - eye)


def _trace(counts: FloatArray) -> FloatArray:
    return np.asarray(np.trace(counts, axis1=1, axis2=2), dtype=np.float64)


class _EMAggregator(BaseAggregator):
    """Shared fit for the EM models: run EM, calibrate, store the learned attributes."""

    smoothing: Smoothing
    prior_strength: float
    calibration: Calibration
    n_iter: int
    tol: float

    raw_probas_: pd.DataFrame
    priors_: pd.Series[float]
    error_correlation_: float
    calibration_: str
    loss_history_: list[float]
    n_iter_: int

    def _m_step(self, counts: FloatArray) -> FloatArray:
        """Expected counts ``(worker, true, given)`` → smoothed pseudo-counts of the same shape."""
        raise NotImplementedError

    def _heldout(self, enc: EncodedAnswers, fit: EMFit, rows: IntArray, posterior: FloatArray) -> FloatArray:
        return heldout_confusion(enc, fit, rows, posterior)

    def _store_workers(self, enc: EncodedAnswers, fit: EMFit) -> None:
        raise NotImplementedError

    def _fit(self, enc: EncodedAnswers, rng: np.random.Generator) -> FloatArray:
        votes = enc.vote_counts()
        init = votes / votes.sum(axis=1, keepdims=True)
        fit = run_em(enc, init, self._m_step, n_iter=self.n_iter, tol=self.tol)
        rho, self.calibration_ = choose_correlation(enc, fit, self.calibration, rng, self._heldout)
        self.error_correlation_ = rho
        keep = ~enc.is_gold
        everything = bool(keep.all())
        raw = fit.posterior if everything else fit.posterior[keep]
        self.raw_probas_ = pd.DataFrame(raw, index=enc.tasks if everything else enc.tasks[keep], columns=enc.labels)
        self.priors_ = pd.Series(np.exp(fit.log_prior), index=enc.labels, name="prior")
        self.loss_history_ = fit.history
        self.n_iter_ = len(fit.history)
        self._store_workers(enc, fit)
        if rho == 0.0:  # the discount is a no-op: EM's own posterior is the answer (a copy: raw_probas_ has it)
            return np.array(fit.posterior)
        return calibrated_posterior(fit.log_prior, fit.log_lik, enc.answers_per_task(), rho)


class DawidSkene(_EMAggregator):
    """Dawid–Skene with a confusion matrix per worker, smoothed, and calibrated confidence.

    Smoothing (the prior on each worker's matrix):

    * ``"modified"`` (default): Ground Truth's modified Dawid–Skene (MDS): add ``n_j`` pseudo-judgments of
      a matrix with the worker's own accuracy on the diagonal and ``n_j / 2`` of one with the crowd's mean
      accuracy (``n_j`` = the worker's judgments). Chosen as the default because it never failed in our
      measurements (sparse or rich crowds) and gave the best-calibrated full-matrix results on the real
      weather crowd; the price is that it blurs systematic confusions, so it is no more accurate than
      :class:`OneCoinDawidSkene`.
    * ``"crowd"``: add ``prior_strength`` pseudo-judgments per true class, distributed like the crowd's
      pooled confusion matrix, so shrinkage follows data volume (5 judgments: mostly the crowd; 500:
      mostly the worker). The most accurate method once the median worker has ~10 judgments per free
      parameter (``make_aggregator("auto")`` then uses it), but with a few judgments per worker and 2 per
      task it can lock onto a wrong labelling.
    * ``"none"``: plain maximum likelihood, as in the 1979 paper; overfits badly on real crowds.

    Calibration. Posteriors are overconfident when workers share mistakes, so the judgment evidence of a
    task with ``n`` judgments is discounted to ``n / (1 + ρ(n − 1))`` independent ones (a per-task
    temperature; see :mod:`groundswell.consolidate.calibration`). ``calibration`` picks ``ρ``:

    * ``"auto"`` (default): ``"gold"`` when at least 30 judged gold tasks are given, else ``"heldout"``.
    * ``"gold"``: the ``ρ`` that best predicts the gold labels from their judgments.
    * ``"heldout"``: the ``ρ`` that best predicts each judgment from the other judgments of its task.
      It sees only disagreement, not mistakes the whole crowd shares, so it corrects part of the
      overconfidence; gold corrects more (figures in ``bench/RESULTS.md``).
    * ``"none"``: ``ρ = 0``, the raw posterior (``raw_probas_`` always holds it).

    Compared with the MDS sample Ground Truth publishes, EM starts from majority-vote shares (not uniform
    posteriors with a 0.7 diagonal), runs up to ``n_iter`` iterations (not 20), and the confidence is
    calibrated rather than ``round(max posterior, 2)``.

    Both defaults were chosen on measurements summarised in the ``groundswell.consolidate`` package
    docstring (full tables: ``bench/RESULTS.md``, section "consolidation").

    Args:
        labels: The job's ordered labels; default: the sorted labels found.
        smoothing: Prior on worker matrices, as above.
        prior_strength: Pseudo-judgments per true class for ``"crowd"`` smoothing.
        calibration: How to calibrate the reported probabilities, as above.
        n_iter: Maximum EM iterations.
        tol: Relative log-likelihood change that counts as converged.
        random_state: Seed for tie-breaking and for sampling judgments when calibrating on huge crowds.

    Attributes:
        confusions_: Per worker and true label, the probability of each given label (DataFrame indexed
            by ``(worker, true_label)``, columns = labels, rows sum to 1).
        skills_: Per worker, the probability of a correct answer under the class prior.
        priors_: Estimated share of each true label.
        raw_probas_: Posteriors before calibration (``ρ = 0``).
        error_correlation_: The fitted ``ρ`` applied to ``probas_``.
        calibration_: The calibration actually used (``"auto"`` resolved).
        loss_history_: Log-likelihood per EM iteration.
        n_iter_: Number of EM iterations run.

    Examples:
        >>> import pandas as pd
        >>> answers = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": list("abcabc"),
        ...                         "label": ["pos", "pos", "neg", "neg", "neg", "neg"]})
        >>> DawidSkene().fit(answers).labels_.to_dict()
        {1: 'pos', 2: 'neg'}
    """

    confusions_: pd.DataFrame

    def __init__(
        self,
        labels: Sequence[Hashable] | None = None,
        smoothing: Smoothing = "modified",
        prior_strength: float = 10.0,
        calibration: Calibration = "auto",
        n_iter: int = 100,
        tol: float = 1e-7,
        random_state: RandomState = 0,
    ) -> None:
        self.labels = labels
        self.smoothing = smoothing
        self.prior_strength = prior_strength
        self.calibration = calibration
        self.n_iter = n_iter
        self.tol = tol
        self.random_state = random_state

    def _m_step(self, counts: FloatArray) -> FloatArray:
        k = counts.shape[-1]
        if self.smoothing == "none":
            return counts
        if self.smoothing == "modified":
            n = counts.sum(axis=(1, 2))
            accuracy = _trace(counts) / np.maximum(n, 1e-12)
            crowd = np.full(1, accuracy[n > 0].mean() if (n > 0).any() else 1.0)
            smoothed = counts + n[:, None, None] * _diagonal(accuracy, k)
            return np.asarray(smoothed + (n / 2.0)[:, None, None] * _diagonal(crowd, k), dtype=np.float64)
        crowd_matrix = _normalise_rows(counts.sum(axis=0))
        return counts + self.prior_strength * crowd_matrix[None, :, :]

    def _store_workers(self, enc: EncodedAnswers, fit: EMFit) -> None:
        k = enc.n_labels
        index = pd.MultiIndex.from_product([enc.workers, enc.labels], names=["worker", "true_label"])
        self.confusions_ = pd.DataFrame(fit.confusion.reshape(-1, k), index=index, columns=enc.labels)
        skill = np.einsum("t,wtt->w", np.exp(fit.log_prior), fit.confusion)
        self.skills_ = self._skills_series(enc, skill)


class OneCoinDawidSkene(_EMAggregator):
    """Dawid–Skene where each worker has a single accuracy and spreads mistakes evenly over other labels.

    ``C_j[t, t] = s_j`` and ``C_j[t, l] = (1 − s_j) / (K − 1)``. With ``K − 1`` fewer parameters per worker
    than a full row, it needs fewer judgments per worker than :class:`DawidSkene` but cannot learn
    systematic confusions. Smoothing and calibration work as in :class:`DawidSkene`: ``"crowd"`` adds
    ``prior_strength × K`` pseudo-judgments at the crowd's mean accuracy; ``"modified"`` mixes in the crowd
    mean with half the worker's weight, as Ground Truth's MDS does.

    Args:
        labels: The job's ordered labels; default: the sorted labels found.
        smoothing: Prior on worker accuracies (``"crowd"``, ``"modified"`` or ``"none"``).
        prior_strength: Pseudo-judgments per label for ``"crowd"`` smoothing.
        calibration: ``"auto"``, ``"gold"``, ``"heldout"`` or ``"none"``, as in :class:`DawidSkene`.
        n_iter: Maximum EM iterations.
        tol: Relative log-likelihood change that counts as converged.
        random_state: Seed for tie-breaking and calibration sampling.

    Attributes:
        skills_: Per worker, the estimated accuracy ``s_j``.
        priors_: Estimated share of each true label.
        raw_probas_: Posteriors before calibration (``ρ = 0``).
        error_correlation_: The fitted ``ρ`` applied to ``probas_``.
        calibration_: The calibration actually used.
        loss_history_: Log-likelihood per EM iteration.
        n_iter_: Number of EM iterations run.
    """

    def __init__(
        self,
        labels: Sequence[Hashable] | None = None,
        smoothing: Smoothing = "crowd",
        prior_strength: float = 2.0,
        calibration: Calibration = "auto",
        n_iter: int = 100,
        tol: float = 1e-7,
        random_state: RandomState = 0,
    ) -> None:
        self.labels = labels
        self.smoothing = smoothing
        self.prior_strength = prior_strength
        self.calibration = calibration
        self.n_iter = n_iter
        self.tol = tol
        self.random_state = random_state

    def _m_step(self, counts: FloatArray) -> FloatArray:
        k = counts.shape[-1]
        n = counts.sum(axis=(1, 2))
        correct = _trace(counts)
        crowd = correct.sum() / max(n.sum(), 1e-12)
        if self.smoothing == "crowd":
            pseudo = self.prior_strength * k
            mass, accuracy = n + pseudo, (correct + pseudo * crowd) / (n + pseudo)
        elif self.smoothing == "modified":  # own accuracy at weight n, crowd mean at n / 2, as MDS
            mass, accuracy = 2.5 * n, (2.0 * correct + 0.5 * n * crowd) / np.maximum(2.5 * n, 1e-12)
        else:
            mass, accuracy = n, correct / np.maximum(n, 1e-12)
        return np.asarray(_diagonal(np.clip(accuracy, 1e-6, 1.0 - 1e-6), k) * mass[:, None, None], dtype=np.float64)

    def _heldout(self, enc: EncodedAnswers, fit: EMFit, rows: IntArray, posterior: FloatArray) -> FloatArray:
        """One-coin leave-one-out: the judgment leaves the worker's single accuracy, not one matrix row."""
        k = enc.n_labels
        worker, label = enc.worker[rows], enc.label[rows]
        accuracy, mass = fit.confusion[worker, 0, 0], fit.mass[worker, 0]
        hit = posterior[np.arange(len(rows)), label]
        loo = np.where(mass > 1.0 + 1e-9, (accuracy * mass - hit) / np.maximum(mass - 1.0, 1e-9), accuracy)
        loo = np.clip(loo, 1e-6, 1.0 - 1e-6)[:, None]
        same = np.arange(k)[None, :] == label[:, None]
        return np.asarray(np.where(same, loo, (1.0 - loo) / max(k - 1, 1)), dtype=np.float64)

    def _store_workers(self, enc: EncodedAnswers, fit: EMFit) -> None:
        self.skills_ = self._skills_series(enc, np.diagonal(fit.confusion, axis1=1, axis2=2)[:, 0].copy())

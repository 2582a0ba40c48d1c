"""MACE (Multi-Annotator Competence Estimation): each worker either knows the answer or spams.

Use it when some workers click without reading: MACE learns *who* spams and discounts them, where
majority vote counts them as much as anyone and Dawid–Skene needs many judgments per worker to learn a
full confusion matrix. One competence and one answer distribution per worker make ``K`` parameters per
worker, between one-coin and full Dawid–Skene.

Model (Hovy, Berg-Kirkpatrick, Vaswani & Hovy, 2013, "Learning Whom to Trust with MACE", NAACL,
https://aclanthology.org/N13-1132): task ``i`` has true label ``T_i ~ π``; worker ``j`` spams with
probability ``1 − θ_j`` (``S_ij ~ Bernoulli(1 − θ_j)``); a worker who does not spam gives ``T_i``, one who
spams draws the answer from their own spamming distribution ``ξ_j``. So
``P(A_ij = l | T_i = t) = θ_j [l = t] + (1 − θ_j) ξ_j[l]``. The paper fixes ``π`` uniform; here the class
shares are learned by default (``class_prior``).

Inference. ``"vb"`` (default) is the paper's variational Bayes with ``θ_j ~ Beta(a, b)``,
``ξ_j ~ Dirichlet(γ)`` (and ``π ~ Dirichlet(1)``): the E-step weighs answers with ``exp E[log θ]`` etc.
(digammas of the posterior pseudo-counts) and the objective is the evidence lower bound. ``"em"`` uses
MAP point estimates with the same concentrations as pseudo-counts. Several restarts; the best objective
wins, as in the paper.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from groundswell.consolidate._em import Calibration, DiscountedPosterior, log_confusion_rows
from groundswell.consolidate._encoding import EncodedAnswers
from groundswell.consolidate.base import BaseAggregator, FloatArray, IntArray, RandomState
from groundswell.errors import UsageError

__all__ = ["MACE", "ClassPrior", "MaceMethod"]

#: ``"vb"``: variational Bayes (the paper's VB variant); ``"em"``: MAP expectation–maximisation.
MaceMethod = Literal["vb", "em"]
#: ``"learned"``: class shares estimated with the labels; ``"uniform"``: equal shares, as in the paper.
ClassPrior = Literal["learned", "uniform"]

#: Floor on EM probabilities before logs, so that a worker estimated at θ = 1 leaves every task finite.
_FLOOR = 1e-300


@dataclass(frozen=True)
class _Data:
    """The judgments in the layouts the steps need, computed once per fit."""

    enc: EncodedAnswers
    own: IntArray  # per judgment, its own label's cell in a label-major (n_labels, n_tasks) table
    pair_total: FloatArray  # judgments per (worker, label) pair, worker-major
    gold_rows: IntArray
    gold_labels: IntArray


@dataclass(frozen=True)
class _Counts:
    """Posterior pseudo-counts: the priors' concentrations plus expected counts."""

    know: FloatArray  # (W,) a + expected answers given from knowledge
    guess: FloatArray  # (W,) b + expected spammed answers
    spam: FloatArray  # (W, K) γ + expected spammed answers per label
    classes: FloatArray  # (K,) 1 + expected tasks per true label


@dataclass(frozen=True)
class _Run:
    objective: float
    posterior: FloatArray  # label-major, (n_labels, n_tasks)
    counts: _Counts
    n_iter: int


def _kl_dirichlet(post: FloatArray, prior: FloatArray) -> float:
    """Σ over rows of ``KL(Dir(post) ‖ Dir(prior))`` (a Beta is a two-column Dirichlet)."""
    post_sum, prior_sum = post.sum(axis=-1), prior.sum(axis=-1)
    e_log = digamma(post) - digamma(post_sum)[..., None]
    kl = gammaln(post_sum) - gammaln(prior_sum) - (gammaln(post) - gammaln(prior)).sum(axis=-1)
    return float(np.sum(kl + ((post - prior) * e_log).sum(axis=-1)))


class MACE(DiscountedPosterior, BaseAggregator):
    """MACE: one competence (probability of not spamming) and one spamming distribution per worker.

    A worker who always gives the same label, or answers at random, is explained as a spammer: their
    answers weigh what their spamming distribution makes them weigh, not a full vote. Unlike one-coin
    Dawid–Skene, a spammer's answers are not "mistakes" that push towards the other labels; unlike full
    Dawid–Skene, the model cannot learn systematic confusions (a worker who swaps two labels looks like a
    spammer).

    Variational Bayes is the default, as the paper found it gave better competence estimates: it weighs a
    worker's answers with ``exp E[log θ]`` over the posterior rather than a point estimate, which discounts
    competences measured on a few judgments. Its labels were as accurate as EM's on the eleven public dev
    crowds (mean .815 both). Class shares are learned by default: mean accuracy .815 there against .807
    with the paper's equal shares, though not everywhere (product .937 against .836, adult content .748
    against .793).

    The objective has local optima, hence the restarts: the first starts from majority-vote shares with
    every agreeing answer counted as knowledge, the others from the same shares with a random fraction of
    them counted so. The fraction is one draw per restart, the same for every worker and label: a draw per
    worker or label would make the result depend on how workers or labels are named and ordered.

    Args:
        labels: The job's ordered labels; default: the sorted labels found.
        method: ``"vb"`` (variational Bayes) or ``"em"`` (MAP point estimates).
        competence_prior: ``(a, b)`` of the Beta prior on each competence ``θ_j``.
        spam_prior: Symmetric Dirichlet concentration ``γ`` on each spamming distribution ``ξ_j``.
        class_prior: ``"learned"`` or ``"uniform"`` class shares ``π``.
        n_restarts: Runs from different starting points; the best objective is kept.
        n_iter: Maximum iterations per run.
        tol: Relative change of the objective that counts as converged.
        calibration: How the reported probabilities are calibrated, as in :class:`DawidSkene`: ``"auto"``
            (on gold tasks when there are at least 30, else on held-out answers), ``"gold"``, ``"heldout"`` or
            ``"none"`` (MACE's own posterior).
        random_state: Seed for the restarts, calibration sampling and tie-breaking.

    Attributes:
        skills_: Per worker, the probability of a right answer: ``θ_j + (1 − θ_j) Σ_l π_l ξ_j[l]``.
        competence_: Per worker, the posterior mean (VB) or estimate (EM) of ``θ_j``.
        spamming_: Per worker and label, the spamming distribution ``ξ_j`` (rows sum to 1).
        priors_: Share of each true label (uniform with ``class_prior="uniform"``).
        objective_: The best run's objective (evidence lower bound for VB, log posterior for EM).
        n_iter_: Iterations of the best run.
        raw_probas_: Posteriors before calibration (``ρ = 0``).
        error_correlation_: The fitted within-task error correlation ``ρ`` applied to ``probas_``.
        calibration_: The calibration actually used (``"auto"`` resolved).

    Examples:
        >>> import pandas as pd
        >>> answers = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": list("abcabc"),
        ...                         "label": ["pos", "pos", "neg", "neg", "neg", "neg"]})
        >>> MACE().fit(answers).labels_.to_dict()
        {1: 'pos', 2: 'neg'}
    """

    competence_: pd.Series[float]
    spamming_: pd.DataFrame
    priors_: pd.Series[float]
    objective_: float
    n_iter_: int

    def __init__(
        self,
        labels: Sequence[Hashable] | None = None,
        method: MaceMethod = "vb",
        competence_prior: tuple[float, float] = (0.5, 0.5),
        spam_prior: float = 1.0,
        class_prior: ClassPrior = "learned",
        n_restarts: int = 3,
        n_iter: int = 100,
        tol: float = 1e-6,
        calibration: Calibration = "auto",
        random_state: RandomState = 0,
    ) -> None:
        self.labels = labels
        self.method = method
        self.competence_prior = competence_prior
        self.spam_prior = spam_prior
        self.class_prior = class_prior
        self.n_restarts = n_restarts
        self.n_iter = n_iter
        self.tol = tol
        self.calibration = calibration
        self.random_state = random_state

    def _fit(self, enc: EncodedAnswers, rng: np.random.Generator) -> FloatArray:
        if self.method not in ("vb", "em") or self.class_prior not in ("learned", "uniform"):
            raise UsageError(f"MACE: unknown method {self.method!r} or class_prior {self.class_prior!r}")
        self._check_calibration()
        if min(self.competence_prior) <= 0 or self.spam_prior <= 0:
            raise UsageError("MACE: prior concentrations must be positive")
        k, gold_rows = enc.n_labels, np.flatnonzero(enc.is_gold)
        data = _Data(
            enc=enc,
            own=enc.label * enc.n_tasks + enc.task,
            pair_total=np.bincount(enc.worker_label, minlength=enc.n_workers * k).astype(np.float64),
            gold_rows=gold_rows,
            gold_labels=enc.gold[gold_rows],
        )
        votes = enc.vote_counts().T
        start = np.ascontiguousarray(votes / votes.sum(axis=0))
        start[:, gold_rows] = 0.0
        start[data.gold_labels, gold_rows] = 1.0
        best: _Run | None = None
        for restart in range(max(self.n_restarts, 1)):
            known = 1.0 if restart == 0 else rng.uniform(0.05, 1.0)
            run = self._run(data, self._m_step(data, start, np.full(enc.n_workers * k, known)))
            if best is None or run.objective > best.objective:
                best = run
        assert best is not None
        self._store(enc, best)
        return self._calibrate(enc, best, rng)

    def _calibrate(self, enc: EncodedAnswers, run: _Run, rng: np.random.Generator) -> FloatArray:
        """The posterior with the judgments' evidence discounted for within-task error correlation.

        MACE, like Dawid–Skene, takes a task's answers as independent given its label, and real crowds err
        together on hard tasks, so its posteriors pile up near 1 (ECE up to .23 on the public dev crowds).
        The same repair as Dawid–Skene's (:mod:`groundswell.consolidate.calibration`): ``n`` answers count as
        ``n / (1 + ρ(n − 1))``, ``ρ`` fitted on gold tasks, or without gold by predicting each answer from the
        others. ``ρ = 0`` gives MACE's own posterior back exactly.
        """
        k = enc.n_labels
        log_know, log_spam, log_xi, log_pi = self._log_weights(run.counts)
        spam = log_spam[:, None] + log_xi  # (W, K): log weight of answering l by spamming
        own = np.logaddexp(log_know[:, None], spam)  # (W, K): log weight of answering l when l is true
        weights = np.repeat(np.exp(spam)[:, None, :], k, axis=1)  # (W, true, given), as the E-step scores
        weights[:, np.arange(k), np.arange(k)] = np.exp(own)
        log_rows = log_confusion_rows(enc, weights)
        log_lik = np.asarray(enc.incidence @ log_rows, dtype=np.float64)
        theta, xi = self.competence_.to_numpy(), self.spamming_.to_numpy()  # stored by _store
        point = theta[:, None, None] * np.eye(k) + (1.0 - theta)[:, None, None] * xi[:, None, :]

        def evidence(rows: IntArray) -> tuple[FloatArray, FloatArray]:
            # An answer's own term as the E-step scores it; its probability from the point estimates.
            return log_rows[enc.worker_label[rows]], point[enc.worker[rows], :, enc.label[rows]]

        return self._discounted(enc, log_pi, log_lik, np.ascontiguousarray(run.posterior.T), rng, evidence)

    def _run(self, data: _Data, counts: _Counts) -> _Run:
        """Alternate E- and M-steps from ``counts`` until the objective settles."""
        previous, limit = -np.inf, max(self.n_iter, 1)
        for iteration in range(1, limit + 1):
            posterior, evidence, know_share = self._e_step(data, counts)
            objective = evidence + self._log_prior_term(counts)
            if abs(objective - previous) <= self.tol * max(abs(objective), 1.0) or iteration == limit:
                break
            previous = objective
            counts = self._m_step(data, posterior, know_share)
        return _Run(objective=objective, posterior=posterior, counts=counts, n_iter=iteration)

    def _log_weights(self, counts: _Counts) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """``log θ``, ``log(1 − θ)``, ``log ξ``, ``log π`` as the E-step uses them.

        VB takes expectations of the logs under the posterior (digammas), EM the logs of the point
        estimates; both from the same pseudo-counts.
        """
        total, spam_total = counts.know + counts.guess, counts.spam.sum(axis=1)
        k = len(counts.classes)
        if self.method == "vb":
            log_know = digamma(counts.know) - digamma(total)
            log_spam = digamma(counts.guess) - digamma(total)
            log_xi = digamma(counts.spam) - digamma(spam_total)[:, None]
            log_pi = digamma(counts.classes) - digamma(counts.classes.sum())
        else:
            log_know = np.log(np.maximum(counts.know / total, _FLOOR))
            log_spam = np.log(np.maximum(counts.guess / total, _FLOOR))
            log_xi = np.log(np.maximum(counts.spam / spam_total[:, None], _FLOOR))
            log_pi = np.log(counts.classes / counts.classes.sum())
        if self.class_prior == "uniform":
            log_pi = np.full(k, -np.log(k))
        return log_know, log_spam, log_xi, log_pi

    def _log_prior_term(self, counts: _Counts) -> float:
        """The objective beyond the evidence: ``−KL(q ‖ prior)`` for VB, the log prior density for EM."""
        a, b = self.competence_prior
        gamma, k = float(self.spam_prior), len(counts.classes)
        learned = self.class_prior == "learned"
        if self.method == "vb":
            kl = _kl_dirichlet(np.column_stack([counts.know, counts.guess]), np.array([a, b]))
            kl += _kl_dirichlet(counts.spam, np.full(k, gamma))
            kl += _kl_dirichlet(counts.classes, np.ones(k)) if learned else 0.0
            return -kl
        log_know, log_spam, log_xi, log_pi = self._log_weights(counts)
        pi_term = float(log_pi.sum()) if learned else 0.0
        return float(a * log_know.sum() + b * log_spam.sum() + gamma * log_xi.sum()) + pi_term

    def _e_step(self, data: _Data, counts: _Counts) -> tuple[FloatArray, float, FloatArray]:
        """Task posteriors (label-major), the log evidence, and per (worker, label) the share not spammed.

        An answer ``l`` scores ``log((1 − θ) ξ[l])`` for every true label plus a gain
        ``log(θ + (1 − θ) ξ[l]) − log((1 − θ) ξ[l])`` for ``t = l``. So the spam scores of a task add up in
        one sparse product for all labels, and the gains in one weighted count per (task, given label).
        """
        enc, k = data.enc, data.enc.n_labels
        log_know, log_spam, log_xi, log_pi = self._log_weights(counts)
        spam_score = (log_spam[:, None] + log_xi).ravel()  # per (worker, label) pair
        either = np.logaddexp(np.repeat(log_know, k), spam_score)
        base = enc.incidence @ spam_score
        gain = np.bincount(data.own, weights=(either - spam_score)[enc.worker_label], minlength=k * enc.n_tasks)
        scores = np.asarray(gain, dtype=np.float64).reshape(k, enc.n_tasks)
        scores += base
        scores += log_pi[:, None]
        top = scores.max(axis=0)
        posterior = np.exp(scores - top)
        total = posterior.sum(axis=0)
        posterior /= total
        log_norm = top + np.log(total)
        if len(data.gold_rows):  # a gold task's evidence is that of its known label, and so is its posterior
            log_norm[data.gold_rows] = scores[data.gold_labels, data.gold_rows]
            posterior[:, data.gold_rows] = 0.0
            posterior[data.gold_labels, data.gold_rows] = 1.0
        know_share = np.exp(np.repeat(log_know, k) - either)
        return posterior, float(log_norm.sum()), know_share

    def _m_step(self, data: _Data, posterior: FloatArray, know_share: FloatArray) -> _Counts:
        """Expected counts plus the priors' concentrations.

        An answer ``l`` comes from knowledge with probability ``P(T_i = l) · know_share[worker, l]``; the
        rest of each (worker, label) pair's answers count towards that worker's spamming distribution.
        """
        enc, k = data.enc, data.enc.n_labels
        agree = np.bincount(enc.worker_label, weights=posterior.ravel()[data.own], minlength=enc.n_workers * k)
        knowing = (agree * know_share).reshape(enc.n_workers, k)
        spammed = np.maximum(data.pair_total.reshape(enc.n_workers, k) - knowing, 0.0)
        a, b = self.competence_prior
        return _Counts(
            know=knowing.sum(axis=1) + a,
            guess=spammed.sum(axis=1) + b,
            spam=spammed + self.spam_prior,
            classes=posterior.sum(axis=1) + 1.0,
        )

    def _store(self, enc: EncodedAnswers, run: _Run) -> None:
        counts = run.counts
        theta = counts.know / (counts.know + counts.guess)
        xi = counts.spam / counts.spam.sum(axis=1, keepdims=True)
        pi = np.exp(self._log_weights(counts)[3]) if self.class_prior == "uniform" else counts.classes
        pi = pi / pi.sum()
        self.competence_ = pd.Series(theta, index=enc.workers, name="competence")
        self.spamming_ = pd.DataFrame(xi, index=enc.workers, columns=enc.labels)
        self.priors_ = pd.Series(pi, index=enc.labels, name="prior")
        self.skills_ = self._skills_series(enc, theta + (1.0 - theta) * (xi @ pi))
        self.objective_ = run.objective
        self.n_iter_ = run.n_iter

"""GLAD: worker ability and item difficulty learned together, so that hard items weigh less.

Use it when items differ in difficulty as much as workers differ in skill and workers give enough judgments
each to be told apart. A one-coin model holds a worker's misses on hard items fully against them; GLAD learns
which items are hard (``betas_``, worth reading on its own: the items to send to an expert) and lets a miss
there cost little, so abilities come from the items that separate workers. For two labels the decision is
a vote weighted by ability (difficulty only changes the confidence); for more, votes on a very hard item
count alike, since every worker tends to ``σ(0) = 1/2`` there: on a constructed crowd where weak workers
guess on hard items (the one in the tests), one-coin Dawid–Skene recovered 20 of 20 hard items, GLAD 18,
majority vote 17.

Model (Whitehill, Ruvolo, Wu, Bergsma & Movellan, "Whose vote should count more: optimal integration of
labels from labelers of unknown expertise", NIPS 2009): worker ``j`` has ability ``α_j`` (``+∞`` always
right, ``0`` right half the time, negative adversarial), item ``i`` has ``β_i = 1/difficulty > 0``
(parameterised as ``β_i = exp(b_i)``), and ``P(l_ij = z_i) = σ(α_j β_i)``; a wrong answer picks one of the
other ``K − 1`` labels evenly. The true label is uniform a priori, as in the paper. E-step: ``log p_i(k) =
Σ_j [l_ij = k] log σ(α_j β_i) + [l_ij ≠ k] log((1 − σ(α_j β_i)) / (K − 1)) + const``. M-step: with ``q_ij``
the posterior that judgment ``ij`` is right, maximise ``Σ_ij q_ij log σ(x_ij) + (1 − q_ij) log(1 − σ(x_ij))``
(``x_ij = α_j β_i``) plus Gaussian log-priors on ``α`` and ``b`` (the paper's priors, which keep workers
and items with few judgments from running off to infinity) by L-BFGS with the analytic gradient
``∂/∂α_j = Σ_i (q_ij − σ(x_ij)) β_i``, ``∂/∂b_i = Σ_j (q_ij − σ(x_ij)) x_ij``. Initialised from
majority-vote shares; gold tasks keep their known label in every E-step, so they measure workers directly.

For ``K > 2``, ``α = 0`` (right half the time) is far better than chance (``1/K``): a guesser has
``α ≈ −log(K − 1)``. So ``skills_`` reports ``σ(α β̄)``, a probability, and the bound that rules out
adversarial workers (see ``adversarial``) sits at chance, not at 0.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from threadpoolctl import threadpool_limits

from groundswell.consolidate._em import Calibration, DiscountedPosterior
from groundswell.consolidate._encoding import EncodedAnswers
from groundswell.consolidate.base import BaseAggregator, FloatArray, IntArray, RandomState

__all__ = ["GLAD"]

#: Bound on ``|log β|``: far beyond what the prior allows, it only keeps ``exp`` finite during line searches.
_LOG_BETA_BOUND = 30.0


def _softplus(x: FloatArray) -> FloatArray:
    """``log(1 + e^x)`` without overflow: minus the log-probability that a judgment with log-odds ``x`` is wrong."""
    return np.asarray(np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))), dtype=np.float64)


def _softplus_sigmoid(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``softplus(x)`` and ``σ(x)`` from one ``exp``: half the time of ``logaddexp`` plus ``expit`` at 1M judgments."""
    e = np.exp(-np.abs(x))
    softplus = np.maximum(x, 0.0) + np.log1p(e)
    return softplus, np.asarray(np.where(x >= 0, 1.0, e) / (1.0 + e), dtype=np.float64)


def _ability(a: FloatArray, floor: float) -> tuple[FloatArray, FloatArray]:
    """Ability ``α`` from the coordinate the optimiser moves, ``a``, and ``dα/da``.

    ``α = floor + softplus(a)`` keeps ``α`` above ``floor`` without bounds, which SciPy's L-BFGS-B checks
    in a Python loop over every variable, tasks included: 2 s per M-step at 200,000 tasks.
    """
    if not np.isfinite(floor):
        return a, np.ones_like(a)
    return floor + _softplus(a), np.asarray(expit(a), dtype=np.float64)


def _ability_coordinate(alpha: FloatArray, floor: float) -> FloatArray:
    """Inverse of :func:`_ability`; an ``α`` at or below ``floor`` maps just above it."""
    if not np.isfinite(floor):
        return alpha
    d = np.maximum(alpha - floor, 1e-3)
    return np.asarray(d + np.log(-np.expm1(-d)), dtype=np.float64)


class _Judgments:
    """The per-judgment arrays one fit reuses on every evaluation."""

    def __init__(self, enc: EncodedAnswers) -> None:
        self.task: IntArray = enc.task
        self.worker: IntArray = enc.worker
        self.cell: IntArray = enc.task * enc.n_labels + enc.label  # position in a flattened (task, label) table
        self.n_tasks, self.n_workers, self.k = enc.n_tasks, enc.n_workers, enc.n_labels
        self.per_task = enc.answers_per_task()
        # log(K − 1): a wrong answer's probability is shared by K − 1 labels (K = 1: nothing to share).
        self.log_others = float(np.log(max(self.k - 1, 1)))

    def logits(self, alpha: FloatArray, log_beta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``β_i`` per judgment and ``x_ij = α_j β_i``, the log-odds that the judgment is right."""
        beta = np.exp(np.clip(log_beta, -_LOG_BETA_BOUND, _LOG_BETA_BOUND))[self.task]
        return beta, alpha[self.worker] * beta

    def log_likelihood(self, x: FloatArray) -> FloatArray:
        """Per task and label, ``Σ_j log P(l_ij | z_i = label)``, shape ``(n_tasks, K)``.

        Every judgment first counts as wrong for every label (``−softplus(x) − log(K − 1)``); the label it
        names then gets back the difference, ``log σ(x) − log((1 − σ(x)) / (K − 1)) = x + log(K − 1)``.
        """
        wrong = np.bincount(self.task, weights=_softplus(x), minlength=self.n_tasks)
        base = -wrong - self.per_task * self.log_others
        flat = np.bincount(self.cell, weights=x + self.log_others, minlength=self.n_tasks * self.k)
        return flat.reshape(self.n_tasks, self.k) + base[:, None]


class GLAD(DiscountedPosterior, BaseAggregator):
    """GLAD: one ability per worker, one difficulty per item, learned by EM (multi-class).

    Compared with :class:`~groundswell.consolidate.OneCoinDawidSkene` (one accuracy per worker, mistakes
    spread evenly too), the per-item difficulty lets a worker's hit rate depend on the item. The Gaussian
    priors matter more than they look: without them a worker with one judgment, or an item everyone agrees
    on, gets ``|α|`` or ``β`` of infinity and a posterior of exactly 0 or 1.

    The class prior stays uniform, as in the paper. Estimating it lets the model explain workers who favour
    one label by making that label common (GLAD's mistakes are symmetric, so it has no other way to): on the
    dev crowds the learned prior ran to .92 / .08 on bluebird (truth .56 / .44; accuracy .722 → .593) and
    to .996 on trec, and cost 4 points on web.

    The model still assumes workers err independently given the item, so shared mistakes make its raw
    posteriors overconfident, though the difficulty term absorbs part of that (a hard item's answers count
    for less); on the eleven dev crowds their ECE was .04–.34, above majority vote's on 8 of them. So the
    reported confidences are calibrated as :class:`~groundswell.consolidate.DawidSkene`'s are: ``n`` answers
    count as ``n / (1 + ρ(n − 1))``, ``ρ`` fitted on gold tasks or by predicting each answer from the others
    (:mod:`groundswell.consolidate.calibration`).

    Args:
        labels: The job's ordered labels; default: the sorted labels found.
        n_iter: Maximum EM iterations.
        tol: Stop when the penalised log-likelihood changes by less than ``tol`` times its size.
        m_step_iter: L-BFGS iterations per M-step. Each M-step starts from the previous one's answer, so a
            few suffice (a generalised EM: the likelihood still rises every iteration).
        alpha_mean: Prior mean of worker ability ``α`` (1: an average worker is right ``σ(1) ≈ 73%`` of the
            time on an average item).
        alpha_sd: Prior standard deviation of ``α``.
        log_beta_mean: Prior mean of ``log β`` (0: an average item has ``β = 1``, so ``α`` is directly the
            log-odds of a right answer there).
        log_beta_sd: Prior standard deviation of ``log β``.
        adversarial: Whether a worker may be worse than chance (``α < −log(K − 1)``: on an average item, each
            of their answers then counts as a vote for the other labels). The paper allows it; the default
            does not, because the workers it catches are mostly ones who give the same label to everything,
            not saboteurs: on trec, two such workers with 5,700 "0" answers between them became votes for
            "1". Without the bound, accuracy on the dev crowds fell on bluebird (.759 → .722), trec
            (.600 → .583), relevance (.533 → .515) and adult_content (.763 → .760); the other seven sets
            moved by at most .001.
        calibration: ``"auto"`` (gold tasks when at least 30, else held-out answers), ``"gold"``,
            ``"heldout"`` or ``"none"`` (the raw posterior), as in :class:`~groundswell.consolidate.DawidSkene`.
        random_state: Seed for tie-breaking and calibration sampling.

    Attributes:
        alphas_: Per worker, the ability ``α_j``.
        betas_: Per non-gold task, ``β_i`` (1 / difficulty; large = easy).
        skills_: Per worker, ``σ(α_j β̄)``: the probability of a right answer on an item of average
            difficulty (``β̄`` = the geometric mean of all ``β_i``).
        loss_history_: Penalised log-likelihood after each EM iteration (non-decreasing).
        n_iter_: Number of EM iterations run.
        raw_probas_: Posteriors before calibration (``ρ = 0``).
        error_correlation_: The fitted ``ρ`` applied to ``probas_``.
        calibration_: The calibration actually used (``"auto"`` resolved).

    Examples:
        >>> import pandas as pd
        >>> answers = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": list("abcabc"),
        ...                         "label": ["pos", "pos", "neg", "neg", "neg", "neg"]})
        >>> GLAD().fit(answers).labels_.to_dict()
        {1: 'pos', 2: 'neg'}
    """

    alphas_: pd.Series[float]
    betas_: pd.Series[float]
    loss_history_: list[float]
    n_iter_: int

    def __init__(
        self,
        labels: Sequence[Hashable] | None = None,
        n_iter: int = 100,
        tol: float = 1e-6,
        m_step_iter: int = 5,
        alpha_mean: float = 1.0,
        alpha_sd: float = 1.0,
        log_beta_mean: float = 0.0,
        log_beta_sd: float = 1.0,
        adversarial: bool = False,
        calibration: Calibration = "auto",
        random_state: RandomState = 0,
    ) -> None:
        self.labels = labels
        self.n_iter = n_iter
        self.tol = tol
        self.m_step_iter = m_step_iter
        self.alpha_mean = alpha_mean
        self.alpha_sd = alpha_sd
        self.log_beta_mean = log_beta_mean
        self.log_beta_sd = log_beta_sd
        self.adversarial = adversarial
        self.calibration = calibration
        self.random_state = random_state

    def _log_prior_density(self, alpha: FloatArray, log_beta: FloatArray) -> float:
        a = (alpha - self.alpha_mean) / self.alpha_sd
        b = (log_beta - self.log_beta_mean) / self.log_beta_sd
        # einsum rather than ``@``: no BLAS call (see ``_fit``).
        return -0.5 * float(np.einsum("i,i->", a, a) + np.einsum("i,i->", b, b))

    def _objective(
        self, data: _Judgments, right: FloatArray, scale: FloatArray, floor: float
    ) -> Callable[[FloatArray], tuple[float, FloatArray]]:
        """The M-step's loss in rescaled coordinates ``u = (a, log β) · scale``: minus the expected
        complete-data log-likelihood minus the log-priors, with its gradient."""
        w = data.n_workers
        inv_a, inv_b = 1.0 / self.alpha_sd**2, 1.0 / self.log_beta_sd**2

        def negative(u: FloatArray) -> tuple[float, FloatArray]:
            theta = u / scale
            alpha, d_alpha = _ability(theta[:w], floor)
            log_beta = theta[w:]
            beta, x = data.logits(alpha, log_beta)
            # q log σ(x) + (1 − q) log(1 − σ(x)) = q x − softplus(x); its derivative in x is q − σ(x).
            softplus, p = _softplus_sigmoid(x)
            value = float(np.einsum("i,i->", right, x) - softplus.sum()) + self._log_prior_density(alpha, log_beta)
            slope = right - p
            grad = np.empty_like(theta)
            grad_alpha = np.bincount(data.worker, weights=slope * beta, minlength=w) - inv_a * (alpha - self.alpha_mean)
            grad[:w] = grad_alpha * d_alpha
            grad[w:] = np.bincount(data.task, weights=slope * x, minlength=data.n_tasks) - inv_b * (
                log_beta - self.log_beta_mean
            )
            return -value, -grad / scale

        return negative

    def _m_step(self, data: _Judgments, right: FloatArray, start: FloatArray, floor: float) -> FloatArray:
        """Maximise the expected complete-data log-likelihood plus log-priors from ``start`` = ``(a, log β)``.

        L-BFGS runs on parameters rescaled by the square root of each one's curvature at ``start`` (the
        diagonal of the Fisher information plus the prior's): a worker with 5,000 judgments and a task with
        3 then take steps of a similar size. Unscaled, 1M judgments needed 25 s; scaled, 3 s.
        """
        w = data.n_workers
        alpha, slope_a = _ability(start[:w], floor)
        beta, x = data.logits(alpha, start[w:])
        p = expit(x)
        spread = p * (1.0 - p)
        curvature_a = np.bincount(data.worker, weights=spread * beta * beta, minlength=w) + 1.0 / self.alpha_sd**2
        curvature_b = np.bincount(data.task, weights=spread * x * x, minlength=data.n_tasks) + 1.0 / self.log_beta_sd**2
        # A worker pinned near the floor has almost no curvature in ``a``; capping how far that stretches
        # the step keeps the first trial step from flying off where softplus is no longer flat.
        scale = np.sqrt(np.concatenate([curvature_a * np.maximum(slope_a, 0.1) ** 2, curvature_b]))
        result = minimize(
            self._objective(data, right, scale, floor),
            start * scale,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max(self.m_step_iter, 1)},
        )
        return np.asarray(result.x / scale, dtype=np.float64)

    def _fit(self, enc: EncodedAnswers, rng: np.random.Generator) -> FloatArray:
        # SciPy's L-BFGS-B (C since 1.15) calls BLAS on parameter-sized vectors, where OpenBLAS threads only
        # add synchronisation and spin against each other on a busy machine: web (15,567 judgments) took
        # 4.4 s with the default threads on 2 loaded cores, 0.3 s with one (the runner limits BLAS likewise).
        self._check_calibration()
        with threadpool_limits(limits=1, user_api="blas"):
            posterior, scores, x = self._em(enc)
        data_k = enc.n_labels
        log_prior = np.full(data_k, -np.log(data_k))  # uniform, as in the model
        log_others = float(np.log(max(data_k - 1, 1)))

        def evidence(rows: IntArray) -> tuple[FloatArray, FloatArray]:
            # log P(l_ij | t): log σ(x) for the label given, log((1 − σ(x)) / (K − 1)) for the others.
            own = np.repeat((-_softplus(x[rows]) - log_others)[:, None], data_k, axis=1)
            own[np.arange(len(rows)), enc.label[rows]] += x[rows] + log_others
            return own, np.exp(own)

        return self._discounted(enc, log_prior, scores, posterior, rng, evidence)

    def _em(self, enc: EncodedAnswers) -> tuple[FloatArray, FloatArray, FloatArray]:
        """EM; the posterior, the last E-step's evidence per task and label, and each judgment's log-odds."""
        data = _Judgments(enc)
        w = enc.n_workers
        gold_rows = np.flatnonzero(enc.is_gold)
        gold_labels = enc.gold[gold_rows]
        free = ~enc.is_gold
        floor = -np.inf if self.adversarial else -data.log_others  # σ(floor) = 1/K: chance

        votes = enc.vote_counts()
        posterior = votes / votes.sum(axis=1, keepdims=True)
        posterior[gold_rows] = 0.0
        posterior[gold_rows, gold_labels] = 1.0
        # theta = (a, log β), the optimiser's coordinates: α = _ability(a) (see there).
        start_a = _ability_coordinate(np.full(w, float(self.alpha_mean)), floor)
        theta = np.concatenate([start_a, np.full(enc.n_tasks, self.log_beta_mean)])
        alpha = _ability(start_a, floor)[0]
        history: list[float] = []
        for _ in range(max(self.n_iter, 1)):
            theta = self._m_step(data, posterior.ravel()[data.cell], theta, floor)
            # E-step: the posterior is the softmax of the scores; gold tasks stay clamped to their label.
            alpha = _ability(theta[:w], floor)[0]
            _, x = data.logits(alpha, theta[w:])
            scores = data.log_likelihood(x)
            top = scores.max(axis=1, keepdims=True)
            posterior = np.exp(scores - top)
            total = posterior.sum(axis=1, keepdims=True)
            posterior /= total
            posterior[gold_rows] = 0.0
            posterior[gold_rows, gold_labels] = 1.0
            normaliser = (top + np.log(total))[:, 0]
            loglik = float(normaliser[free].sum() + scores[gold_rows, gold_labels].sum())
            loglik += self._log_prior_density(alpha, theta[w:])
            converged = bool(history) and abs(loglik - history[-1]) <= self.tol * max(abs(loglik), 1.0)
            history.append(loglik)
            if converged:
                break

        log_beta = theta[w:]
        self.alphas_ = pd.Series(alpha, index=enc.workers, name="alpha")
        self.betas_ = pd.Series(np.exp(log_beta[free]), index=enc.tasks[free], name="beta")
        self.skills_ = self._skills_series(enc, expit(alpha * np.exp(log_beta.mean())))
        self.loss_history_ = history
        self.n_iter_ = len(history)
        return np.asarray(posterior, dtype=np.float64), scores, x

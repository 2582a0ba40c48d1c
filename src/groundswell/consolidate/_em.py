"""Expectation–maximisation shared by the Dawid–Skene family, in log space and on sparse matrices.

Per iteration the work is two sparse × dense products with one nonzero per judgment: the M-step sums task
posteriors into expected confusion counts per (worker, given label), the E-step sums log confusion
entries into per-task log-posteriors. Nothing loops over judgments in Python, which is what lets a
million judgments fit in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from groundswell.consolidate._encoding import EncodedAnswers
from groundswell.consolidate.calibration import (
    calibrated_posterior,
    fit_error_correlation,
    fit_error_correlation_heldout,
)
from groundswell.errors import UsageError

__all__ = [
    "Calibration",
    "DiscountedPosterior",
    "EMFit",
    "HeldoutConfusion",
    "JudgmentEvidence",
    "choose_correlation",
    "correlation_for",
    "heldout_confusion",
    "log_confusion_rows",
    "run_em",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: How the reported confidence is calibrated (see ``DawidSkene``).
Calibration = Literal["auto", "gold", "heldout", "none"]

#: Floor for probabilities before taking logs: keeps an unseen (worker, label) pair finite.
_FLOOR = 1e-12
#: Gold tasks needed before ρ is fitted on gold rather than on held-out judgments.
MIN_GOLD_FOR_CALIBRATION = 30
#: Judgments used to fit the held-out ρ; a seeded sample keeps large crowds fast.
_HELDOUT_SAMPLE = 100_000
#: Fewer usable judgments than this and the held-out fit is too noisy: keep ρ = 0.
_HELDOUT_MIN = 50


@dataclass(frozen=True)
class EMFit:
    """What EM learned.

    Attributes:
        log_prior: Log class prior, shape ``(n_labels,)``.
        confusion: Per worker, ``P(given label | true label)``, shape ``(n_workers, n_labels, n_labels)``.
        mass: Per worker and true label, the (pseudo-)judgments behind that row of ``confusion``: expected
            counts plus the prior's pseudo-counts, shape ``(n_workers, n_labels)``.
        log_lik: Per task, ``Σ_j log C_j[t, label_j]``: the judgments' evidence, as if no task were gold,
            shape ``(n_tasks, n_labels)`` (a column-major view).
        posterior: Per task, the uncalibrated posterior from ``log_prior`` and ``log_lik`` (gold tasks
            clamped to their label), same shape and layout as ``log_lik``.
        history: Log-likelihood after each iteration.
    """

    log_prior: FloatArray
    confusion: FloatArray
    mass: FloatArray
    log_lik: FloatArray
    posterior: FloatArray
    history: list[float]


def log_confusion_rows(enc: EncodedAnswers, confusion: FloatArray) -> FloatArray:
    """``log C`` laid out as rows (worker·n_labels + given label) × true label, matching ``incidence``."""
    k = enc.n_labels
    return np.log(np.maximum(confusion, _FLOOR)).transpose(0, 2, 1).reshape(enc.n_workers * k, k)


def _unseen_rows(counts: FloatArray) -> FloatArray:
    """Rows for true classes a worker has no mass for: right at the crowd's accuracy, wrong evenly.

    A uniform row would let a label nobody ever gave win tasks whose real rows hold small numbers; with
    this row, such a label needs votes like any other.
    """
    k = counts.shape[-1]
    if k == 1:
        return np.ones((1, 1))
    total = float(counts.sum())
    accuracy = float(np.trace(counts.sum(axis=0))) / total if total > 0 else 1.0 / k
    accuracy = min(max(accuracy, 1.0 / k), 1.0 - 1e-6)
    eye = np.eye(k)
    return np.asarray(accuracy * eye + (1.0 - accuracy) / (k - 1) * (1.0 - eye), dtype=np.float64)


def run_em(
    enc: EncodedAnswers,
    init: FloatArray,
    m_step: Callable[[FloatArray], FloatArray],
    *,
    n_iter: int,
    tol: float,
) -> EMFit:
    """Alternate M- and E-steps from initial task posteriors until the log-likelihood settles.

    Task-sized tables are held label-major, ``(n_labels, n_tasks)``, so that every per-task operation runs
    on contiguous rows and each sparse product is one pass over the judgments per label.

    Args:
        enc: Coded judgments; gold tasks stay clamped to their label throughout.
        init: Initial task posteriors, shape ``(n_tasks, n_labels)`` (e.g. majority-vote shares).
        m_step: Maps expected counts ``(n_workers, true, given)`` to smoothed pseudo-counts of the same
            shape (expected counts plus the prior's); this is where the variants differ. Rows are
            normalised here.
        n_iter: Maximum number of iterations.
        tol: Stop when the log-likelihood changes by less than ``tol`` times its size.

    Returns:
        The learned parameters and final scores.
    """
    k, n_workers = enc.n_labels, enc.n_workers
    by_task, by_pair = enc.incidence, enc.incidence_t
    gold_rows = np.flatnonzero(enc.is_gold)
    gold_labels = enc.gold[gold_rows]
    free_rows = ~enc.is_gold if len(gold_rows) else None
    probas = np.ascontiguousarray(init.T, dtype=np.float64)
    probas[:, gold_rows] = 0.0
    probas[gold_labels, gold_rows] = 1.0
    history: list[float] = []
    log_prior = np.zeros(k)
    confusion = np.zeros((n_workers, k, k))
    mass = np.zeros((n_workers, k))
    counts = np.empty((n_workers, k, k))
    # Task-sized buffers, reused by every iteration: fresh temporaries of this size cost page faults.
    log_lik, posterior = np.zeros((k, enc.n_tasks)), np.empty((k, enc.n_tasks))
    top, total = np.empty(enc.n_tasks), np.empty(enc.n_tasks)
    for _ in range(max(n_iter, 1)):
        for true in range(k):  # counts[w, true, given]: posterior mass of `true` on w's `given` answers
            counts[:, true, :] = (by_pair @ probas[true]).reshape(n_workers, k)
        pseudo = m_step(counts)
        mass = pseudo.sum(axis=2)
        confusion = np.where(
            mass[:, :, None] > 0, pseudo / np.where(mass > 0, mass, 1.0)[:, :, None], _unseen_rows(counts)
        )
        # Add-one smoothing keeps a label nobody chose possible without letting it matter.
        log_prior = np.log((probas.sum(axis=1) + 1.0) / (enc.n_tasks + k))
        log_rows = np.log(np.maximum(confusion, _FLOOR)).transpose(1, 0, 2).reshape(k, n_workers * k)
        for true in range(k):
            log_lik[true] = by_task @ log_rows[true]
        # E-step: posterior = column-wise softmax of the scores, built in place.
        np.add(log_lik, log_prior[:, None], out=posterior)
        gold_score = float(posterior[gold_labels, gold_rows].sum())
        np.max(posterior, axis=0, out=top)
        np.subtract(posterior, top, out=posterior)
        np.exp(posterior, out=posterior)
        np.sum(posterior, axis=0, out=total)
        np.divide(posterior, total, out=posterior)
        posterior[:, gold_rows] = 0.0
        posterior[gold_labels, gold_rows] = 1.0
        probas = posterior
        # Log-likelihood: each free task's log-sum-exp of its scores, plus the gold tasks' known-label scores.
        normaliser = np.add(top, np.log(total, out=total), out=total)
        free = float(normaliser.sum() if free_rows is None else normaliser[free_rows].sum())
        loglik = free + gold_score
        converged = bool(history) and abs(loglik - history[-1]) <= tol * max(abs(loglik), 1.0)
        history.append(loglik)
        if converged:
            break
    return EMFit(
        log_prior=log_prior, confusion=confusion, mass=mass, log_lik=log_lik.T, posterior=probas.T, history=history
    )


def heldout_confusion(enc: EncodedAnswers, fit: EMFit, rows: IntArray, posterior: FloatArray) -> FloatArray:
    """``C_j[t, label]`` for each judgment in ``rows`` as if that judgment had not been seen (full matrices).

    Each judgment added its task's posterior ``p_i(t)`` to row ``t`` of its worker's counts; taking it
    back out keeps a worker's matrix from "predicting" the very answer it was fitted on, which would
    favour overconfident posteriors. The prior's pseudo-counts stay.

    Args:
        enc: Coded judgments.
        fit: The EM result.
        rows: Judgment positions.
        posterior: Posterior of each judgment's task, shape ``(len(rows), n_labels)``.

    Returns:
        Shape ``(len(rows), n_labels)``: for each true class ``t``, the held-out probability of the label given.
    """
    worker, label = enc.worker[rows], enc.label[rows]
    mass = fit.mass[worker]
    kept = fit.confusion[worker, :, label] * mass - posterior
    remaining = mass - posterior
    loo = np.where(remaining > 1e-9, np.maximum(kept, 0.0) / np.maximum(remaining, 1e-9), 1.0 / enc.n_labels)
    return np.maximum(loo, _FLOOR)


HeldoutConfusion = Callable[[EncodedAnswers, EMFit, IntArray, FloatArray], FloatArray]


def choose_correlation(
    enc: EncodedAnswers,
    fit: EMFit,
    calibration: Calibration,
    rng: np.random.Generator,
    heldout: HeldoutConfusion = heldout_confusion,
) -> tuple[float, str]:
    """Pick the within-task error correlation ``ρ`` that discounts judgment evidence.

    Args:
        enc: Coded judgments.
        fit: The EM result.
        calibration: ``"none"`` (``ρ = 0``), ``"gold"``, ``"heldout"``, or ``"auto"`` (gold when at least
            ``MIN_GOLD_FOR_CALIBRATION`` judged gold tasks exist, else held-out).
        rng: For sampling judgments on large crowds.
        heldout: Leave-one-out confusion entries for the model at hand (see :func:`heldout_confusion`).

    Returns:
        ``ρ`` and the method actually used.
    """

    def evidence(rows: IntArray) -> tuple[FloatArray, FloatArray]:
        own = log_confusion_rows(enc, fit.confusion)[enc.worker_label[rows]]
        return own, heldout(enc, fit, rows, fit.posterior[enc.task[rows]])  # no gold task among the rows

    return correlation_for(enc, fit.log_prior, fit.log_lik, calibration, rng, evidence)


#: Per judgment (positions ``rows``): its own log-evidence per true class, and its probability per true class
#: as predicted without it — what the held-out fit of ``ρ`` needs from a model.
JudgmentEvidence = Callable[[IntArray], tuple[FloatArray, FloatArray]]


def correlation_for(
    enc: EncodedAnswers,
    log_prior: FloatArray,
    log_lik: FloatArray,
    calibration: Calibration,
    rng: np.random.Generator,
    evidence: JudgmentEvidence,
) -> tuple[float, str]:
    """:func:`choose_correlation` for any model whose task evidence is a sum over judgments (``log_lik``).

    Returns:
        ``ρ`` and the method actually used.
    """
    if calibration == "none":
        return 0.0, "none"
    per_task = enc.answers_per_task()
    gold_rows = np.flatnonzero(enc.is_gold)
    if calibration == "gold" or (calibration == "auto" and len(gold_rows) >= MIN_GOLD_FOR_CALIBRATION):
        if len(gold_rows) == 0:
            return 0.0, "none"
        rho = fit_error_correlation(log_prior, log_lik[gold_rows], per_task[gold_rows], enc.gold[gold_rows])
        return rho, "gold"
    usable = np.flatnonzero(((per_task >= 2) & ~enc.is_gold)[enc.task])
    if len(usable) < _HELDOUT_MIN:
        return 0.0, "none"
    if len(usable) > _HELDOUT_SAMPLE:
        picked = np.zeros(enc.n_answers, dtype=bool)  # sorting the sample by marking it: O(n), no sort
        picked[rng.choice(usable, size=_HELDOUT_SAMPLE, replace=False)] = True
        usable = np.flatnonzero(picked)
    task = enc.task[usable]
    own, predicted = evidence(usable)
    n_others = per_task[task] - 1.0
    return fit_error_correlation_heldout(log_prior, log_lik[task] - own, n_others, predicted), "heldout"


class DiscountedPosterior:
    """For models beside Dawid–Skene whose task evidence sums over judgments (GLAD, MACE): report the
    posterior with that evidence discounted for within-task error correlation, as Dawid–Skene does.

    Attributes:
        calibration: The ``calibration`` setting (``"auto"``, ``"gold"``, ``"heldout"`` or ``"none"``).
        raw_probas_: Posteriors before calibration (``ρ = 0``).
        error_correlation_: The fitted ``ρ`` applied to ``probas_``.
        calibration_: The calibration actually used (``"auto"`` resolved).
    """

    calibration: Calibration
    raw_probas_: pd.DataFrame
    error_correlation_: float
    calibration_: str

    def _check_calibration(self) -> None:
        if self.calibration not in get_args(Calibration):
            raise UsageError(f"{type(self).__name__}: unknown calibration {self.calibration!r}")

    def _discounted(
        self,
        enc: EncodedAnswers,
        log_prior: FloatArray,
        log_lik: FloatArray,
        posterior: FloatArray,
        rng: np.random.Generator,
        evidence: JudgmentEvidence,
    ) -> FloatArray:
        """Fit ``ρ`` (:func:`correlation_for`), keep the raw posterior, and return the one to report (the raw
        one itself when ``ρ = 0``)."""
        keep = ~enc.is_gold
        self.raw_probas_ = pd.DataFrame(posterior[keep], index=enc.tasks[keep], columns=enc.labels)
        rho, self.calibration_ = correlation_for(enc, log_prior, log_lik, self.calibration, rng, evidence)
        self.error_correlation_ = rho
        if rho == 0.0:
            return posterior
        return calibrated_posterior(log_prior, log_lik, enc.answers_per_task(), rho)

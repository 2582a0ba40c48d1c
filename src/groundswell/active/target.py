"""A job-level accuracy target: how accurate the job's labels are now, and where one more answer pays most.

Under ``--accuracy-target`` every item starts with one answer. The job's *estimated accuracy* is the mean,
over its labeled items, of the probability that each item's label is right: the calibrated posterior's top
probability for human-labeled items, the certified confidence for machine labels. (With calibrated
posteriors, that mean is an unbiased estimate of the share of right labels; it is the number a reviewer
with the gold labels would measure, on average.)

While the estimate is below the target, the job asks for more answers, where the **expected gain per
answer** is largest. The gain of one more answer on an item with posterior ``p`` from a worker drawn like
the crowd (confusion ``C``: the answer-weighted mean of the workers' matrices) is

    E[max posterior after the answer] − max p  =  Σ_answers max_c p_c · C[c, answer]  −  max_c p_c

(the expectation of a maximum of a Bayesian update has this closed form: each answer ``a`` turns up with
probability ``Σ_c p_c C[c, a]`` and then leaves ``max_c p_c C[c, a]`` over that probability). One answer
cannot overturn a fairly sure label (0.8 with 70 %-right workers: a dissent leaves it at the top), so that
gain is zero even where two answers would pay; the gain per answer is therefore the better of one answer's
gain and half of two answers' (``Σ_{a,b} max_c p_c C[c, a] C[c, b] − max p``, over 2). It is zero on an item
the crowd cannot move and largest on a genuine toss-up. The job reopens the items with the highest
gain until their summed gain covers the shortfall (target − estimate, times the number of items), so easy
tweets are never asked again just because a per-tweet threshold said so.

Nothing here is tuned to a crowd: the posterior, the confusions and so the gains all come from the job's own
answers (``groundswell.consolidate.PriorDawidSkene``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from groundswell.active.base import FloatArray
from groundswell.errors import InvalidInputError

__all__ = ["AccuracyEstimate", "choose_reopen", "estimate_accuracy", "expected_gain"]

#: Two-sided 95 % normal quantile.
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class AccuracyEstimate:
    """The estimated share of right labels with a 95 % interval.

    Attributes:
        accuracy: Point estimate (mean probability of being right).
        low: Lower end of the 95 % interval.
        high: Upper end.
        items: Labels it covers.
        gold_items: Gold items that corrected it (0 when uncorrected).
    """

    accuracy: float
    low: float
    high: float
    items: int
    gold_items: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "accuracy": self.accuracy,
            "low": self.low,
            "high": self.high,
            "items": self.items,
            "gold_items": self.gold_items,
        }


def estimate_accuracy(
    confidence: Any, *, gold_hits: Any | None = None, gold_confidence: Any | None = None
) -> AccuracyEstimate | None:
    """The estimated accuracy of labels whose probabilities of being right are ``confidence``.

    Without gold, the interval is that of a sum of independent Bernoulli draws (each label right with its
    own probability): ``mean ± 1.96 · sqrt(Σ p(1−p)) / n``. With gold items scored the same way
    (``gold_confidence``: what the posterior said before seeing the gold label; ``gold_hits``: whether the
    label was right), the estimate is corrected by the gold items' observed calibration gap
    (right share − mean confidence), and the interval widens by that gap's own sampling error.

    Returns ``None`` when there is nothing to estimate.
    """
    p = np.asarray(confidence, dtype=np.float64)
    if p.ndim != 1 or ((p < 0) | (p > 1)).any():
        raise InvalidInputError("confidence must be probabilities, one per label")
    if not len(p):
        return None
    n = len(p)
    point = float(p.mean())
    var = float(np.sum(p * (1 - p))) / n**2
    gold_n = 0
    if gold_hits is not None and gold_confidence is not None:
        hits = np.asarray(gold_hits, dtype=np.float64)
        conf = np.asarray(gold_confidence, dtype=np.float64)
        if hits.shape != conf.shape:
            raise InvalidInputError("gold_hits and gold_confidence must be equally long")
        gold_n = len(hits)
        if gold_n:
            gap = float(hits.mean() - conf.mean())
            point = float(np.clip(point + gap, 0.0, 1.0))
            var += float(hits.var(ddof=0)) / gold_n
    half = _Z95 * float(np.sqrt(var))
    return AccuracyEstimate(point, max(0.0, point - half), min(1.0, point + half), n, gold_n)


def expected_gain(posterior: Any, confusion: Any) -> FloatArray:
    """Per item, the expected rise of its top posterior probability per answer: the better of one more answer
    and half of two more (module docstring).

    Args:
        posterior: ``(items, classes)`` posteriors, rows summing to 1.
        confusion: ``(classes, classes)`` confusion of the next answer (rows: true class).
    """
    p = np.asarray(posterior, dtype=np.float64)
    c = np.asarray(confusion, dtype=np.float64)
    if p.ndim != 2 or c.shape != (p.shape[1], p.shape[1]):
        raise InvalidInputError("posterior must be (items, classes) and confusion (classes, classes)")
    top = p.max(axis=1)
    # joint[i, c, a] = p_ic · C[c, a]; the best class per answer, summed over answers.
    one = (p[:, :, None] * c[None, :, :]).max(axis=1).sum(axis=1) - top
    # Two answers a, b: joint[i, c, a, b] = p_ic · C[c, a] · C[c, b].
    pair = c[:, :, None] * c[:, None, :]
    two = (p[:, :, None, None] * pair[None]).max(axis=1).sum(axis=(1, 2)) - top
    return np.asarray(np.clip(np.maximum(one, two / 2), 0.0, None), dtype=np.float64)


def choose_reopen(
    confidence: Any, gain: Any, eligible: Any, target: float, *, total: int | None = None, pending: float = 0.0
) -> FloatArray:
    """Positions to ask one more answer of: the highest expected gains among ``eligible`` items until they
    cover the shortfall ``target · total − Σ confidence − pending`` (none when the estimate meets the target).

    Args:
        confidence: Probability that each labeled item's label is right (machine labels included).
        gain: Expected gain per item (0 where an answer cannot be asked).
        eligible: Mask of items that may get one more answer (below the cap, not held by anyone).
        target: The job's accuracy target.
        total: Items the target counts over (default: ``len(confidence)``).
        pending: Expected gain of answers already asked for and not yet given (items reopened earlier): they
            cover part of the shortfall, so it is not asked for twice.

    Returns:
        Integer positions, highest gain first.
    """
    p = np.asarray(confidence, dtype=np.float64)
    g = np.asarray(gain, dtype=np.float64)
    ok = np.asarray(eligible, dtype=bool)
    if not p.shape == g.shape == ok.shape:
        raise InvalidInputError("confidence, gain and eligible must be equally long")
    if not 0.0 < target <= 1.0:
        raise InvalidInputError(f"target must be in (0, 1], got {target}")
    n = len(p) if total is None else total
    shortfall = target * n - float(p.sum()) - max(float(pending), 0.0)
    candidates = np.flatnonzero(ok & (g > 0))
    if shortfall <= 0 or not len(candidates):
        return np.empty(0, dtype=np.intp)
    order = candidates[np.argsort(-g[candidates], kind="stable")]
    covered = np.cumsum(g[order])
    take = int(np.searchsorted(covered, shortfall, side="left")) + 1
    return np.asarray(order[:take], dtype=np.intp)

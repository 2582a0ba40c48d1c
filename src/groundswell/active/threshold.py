"""Choosing the confidence threshold above which the model's labels are trusted.

Ground Truth's rule (spec §5.4) takes the lowest threshold whose *point* accuracy on the validation items at
or above it reaches the target (95 %). On a few hundred validation items that is a coin toss: 19 right out
of 20 is "95 %", yet the true accuracy could well be 80 %. Groundswell's default asks more: the lowest
threshold whose **one-sided 95 % lower confidence bound** on that accuracy reaches the target, so a stated
target is met with 95 % confidence rather than on average. The price is support: with every item right,
Clopper–Pearson needs 59 validation items above the threshold before it can vouch for 95 %.

Soft correctness. A human label is itself only probably right, so "the model agrees with it" is only
probably a hit. Both selectors accept, instead of booleans, the *expected* correctness of each validation
item in [0, 1] (:func:`soft_hits`: the label's confidence when the model agrees with it, the share of the
rest its predicted class would get when it does not). The accuracy at or above τ is then the mean of the
soft hits, and the bound is the binomial bound on the **rounded sum** of the soft hits over the count: as if
that many items had been seen right. Rounding keeps the exact Clopper–Pearson formula (it wants whole
successes) and moves the bound by at most half an item; the binomial variance at the mean is also at least
the variance of a sum of unequal Bernoulli trials, so it does not understate the uncertainty. Booleans
give exactly the classical rule.

Which function when: :func:`select_threshold` for one threshold over all classes;
:func:`select_class_thresholds` for one per predicted class (a model may be reliable on "positive" long
before "neutral"); :func:`accuracy_lower_bound` for the bound alone; :func:`soft_hits` to turn predictions,
human labels and the labels' confidences into soft hits; :func:`gold_gate` to let gold items veto a
certification they contradict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from groundswell.active.base import FloatArray
from groundswell.errors import InvalidInputError

__all__ = [
    "BOUND_METHODS",
    "RULES",
    "BoundMethod",
    "Rule",
    "ThresholdChoice",
    "accuracy_lower_bound",
    "gold_gate",
    "select_class_thresholds",
    "select_threshold",
    "soft_hits",
]

Rule = Literal["bound", "point"]
BoundMethod = Literal["clopper-pearson", "wilson"]
RULES: tuple[str, ...] = ("bound", "point")
BOUND_METHODS: tuple[str, ...] = ("clopper-pearson", "wilson")


@dataclass(frozen=True)
class ThresholdChoice:
    """A chosen threshold and what the validation set says about the labels at or above it."""

    threshold: float
    #: Share of validation items at or above the threshold whose predicted label matches the human label
    #: (with soft hits: their mean expected correctness).
    accuracy: float
    #: One-sided lower confidence bound on that accuracy.
    lower_bound: float
    #: Validation items at or above the threshold.
    support: int


def accuracy_lower_bound(
    correct: Any, total: Any, *, method: BoundMethod = "clopper-pearson", level: float = 0.95
) -> FloatArray:
    """One-sided lower confidence bound(s) on a binomial proportion ``correct / total``.

    Clopper–Pearson is exact (never below its stated coverage, so conservative); Wilson is the score
    interval, tighter and close to nominal coverage. ``total == 0`` gives 0.
    """
    from scipy import stats  # lazily: half a second to import, and job creation only validates settings

    k = np.asarray(correct, dtype=np.float64)
    n = np.asarray(total, dtype=np.float64)
    if not 0.5 < level < 1.0:
        raise InvalidInputError(f"level must be in (0.5, 1), got {level}")
    if (k < 0).any() or (k > n).any():
        raise InvalidInputError("correct must be between 0 and total")
    alpha = 1.0 - level
    safe_n = np.maximum(n, 1.0)
    if method == "clopper-pearson":
        with np.errstate(invalid="ignore"):
            bound = stats.beta.ppf(alpha, k, n - k + 1.0)
        bound = np.where(k == 0, 0.0, bound)
    elif method == "wilson":
        z = float(stats.norm.ppf(level))
        p = k / safe_n
        centre = p + z * z / (2 * safe_n)
        spread = z * np.sqrt(p * (1 - p) / safe_n + z * z / (4 * safe_n * safe_n))
        bound = (centre - spread) / (1 + z * z / safe_n)
    else:
        raise InvalidInputError(f"unknown bound method {method!r}; use one of {', '.join(BOUND_METHODS)}")
    return np.asarray(np.where(n == 0, 0.0, np.clip(bound, 0.0, 1.0)), dtype=np.float64)


def soft_hits(predicted: Any, labels: Any, label_confidence: Any, n_classes: int) -> FloatArray:
    """Expected correctness of each prediction, judged against a label that is right with ``label_confidence``.

    With a probability per item: ``conf`` when the prediction equals the label; ``(1 − conf) / (n_classes − 1)``
    when it does not (the label's doubt, spread evenly over the other classes). With a posterior per item (an
    ``(items, classes)`` matrix): the posterior's probability of the predicted class, ``P(true = prediction)``.

    Which posterior to pass is a choice between two biases. One from people alone (what the job passes) does
    not know the prediction is informative, so it judges a good model's disagreements as mostly wrong and
    understates its accuracy (a perfect model scored against labels 85 % right comes out at 0.73): machine
    labels then meet their target with room to spare. One that also holds the vote of a model like the one
    scored lets that model vouch for itself: on simulated crowds its machine labels fell 2–3 points short.

    Examples:
        >>> soft_hits([0, 1], [0, 0], [0.9, 0.9], 3).round(3).tolist()
        [0.9, 0.05]
        >>> soft_hits([0, 1], [0, 0], [[0.9, 0.05, 0.05], [0.6, 0.3, 0.1]], 3).round(3).tolist()
        [0.9, 0.3]
    """
    pred = np.asarray(predicted, dtype=np.int64)
    human = np.asarray(labels, dtype=np.int64)
    conf = np.asarray(label_confidence, dtype=np.float64)
    if conf.ndim == 2:
        if conf.shape != (len(pred), n_classes) or pred.ndim != 1 or human.shape != pred.shape:
            raise InvalidInputError("a posterior label_confidence must be (items, classes), one row per prediction")
        if not (np.isfinite(conf) & (conf >= 0) & (conf <= 1)).all() or (pred < 0).any() or (pred >= n_classes).any():
            raise InvalidInputError("label_confidence must lie in [0, 1] and predictions in the classes")
        return np.asarray(conf[np.arange(len(pred)), pred], dtype=np.float64)
    if not pred.shape == human.shape == conf.shape or pred.ndim != 1:
        raise InvalidInputError("predicted, labels and label_confidence must be 1-D and equally long")
    if n_classes < 2:
        raise InvalidInputError(f"soft hits need at least 2 classes, got {n_classes}")
    if not (np.isfinite(conf) & (conf >= 0) & (conf <= 1)).all():
        raise InvalidInputError("label_confidence must lie in [0, 1]")
    return np.asarray(np.where(pred == human, conf, (1.0 - conf) / (n_classes - 1)), dtype=np.float64)


def _correctness(correct: Any) -> FloatArray:
    """Hits as floats in [0, 1]: booleans (0/1) or soft hits."""
    hit = np.asarray(correct)
    hit = hit.astype(np.float64) if hit.dtype == bool else np.asarray(hit, dtype=np.float64)
    if not (np.isfinite(hit) & (hit >= 0) & (hit <= 1)).all():
        raise InvalidInputError("correct must be booleans or expected correctness in [0, 1]")
    return np.asarray(hit, dtype=np.float64)


def select_threshold(
    confidence: Any,
    correct: Any,
    *,
    target: float,
    rule: Rule = "bound",
    method: BoundMethod = "clopper-pearson",
    level: float = 0.95,
    min_support: int = 10,
) -> ThresholdChoice | None:
    """The lowest threshold τ whose validation items with confidence ≥ τ meet the target; ``None`` if none does.

    Args:
        confidence: The model's confidence in its predicted label, per validation item.
        correct: Whether the predicted label equals the (consolidated human) label, per validation item:
            booleans, or soft hits in [0, 1] (:func:`soft_hits`; module docstring for how they are bounded).
        target: Required accuracy in (0, 1), e.g. 0.95.
        rule: ``"bound"`` (the lower confidence bound must reach the target) or ``"point"`` (Ground
            Truth's: the observed accuracy must).
        method: The bound: ``"clopper-pearson"`` or ``"wilson"``.
        level: One-sided confidence level of the bound.
        min_support: Fewest validation items at or above τ for τ to count, under either rule.

    Candidate thresholds are the observed confidences; items tied at τ are all "at or above" it.

    Examples:
        >>> choice = select_threshold([0.9] * 60 + [0.5], [True] * 60 + [False], target=0.95)
        >>> choice.threshold, choice.support
        (0.9, 60)
    """
    conf = np.asarray(confidence, dtype=np.float64)
    hit = _correctness(correct)
    if conf.ndim != 1 or conf.shape != hit.shape:
        raise InvalidInputError(f"confidence and correct must be 1-D and equally long, got {conf.shape}, {hit.shape}")
    if not np.isfinite(conf).all():
        raise InvalidInputError("confidence must be finite")
    if not 0.0 < target < 1.0:
        raise InvalidInputError(f"target accuracy must be in (0, 1), got {target}")
    if rule not in RULES:
        raise InvalidInputError(f"unknown threshold rule {rule!r}; use one of {', '.join(RULES)}")
    if min_support < 1:
        raise InvalidInputError(f"min_support must be at least 1, got {min_support}")
    if len(conf) == 0:
        return None
    order = np.argsort(-conf, kind="stable")
    conf_sorted = conf[order]
    support = np.arange(1, len(conf) + 1)
    right = np.cumsum(hit[order])  # soft: the expected number right
    last_of_tie = np.append(conf_sorted[1:] != conf_sorted[:-1], True)  # τ = a value takes all its ties
    accuracy = right / support
    whole = np.minimum(np.rint(right), support)  # whole successes for the bound (module docstring)
    bound = accuracy_lower_bound(whole, support, method=method, level=level)
    meets = (bound if rule == "bound" else accuracy) >= target
    ok = np.flatnonzero(last_of_tie & meets & (support >= min_support))
    if len(ok) == 0:
        return None
    i = int(ok[-1])  # the lowest qualifying threshold
    return ThresholdChoice(
        threshold=float(conf_sorted[i]),
        accuracy=float(accuracy[i]),
        lower_bound=float(bound[i]),
        support=int(support[i]),
    )


def select_class_thresholds(
    confidence: Any,
    predicted: Any,
    correct: Any,
    n_classes: int,
    **options: Any,
) -> list[ThresholdChoice | None]:
    """One threshold per predicted class (``None`` for a class that cannot meet the target).

    Each class is judged only on the validation items the model assigned to it, with the same options as
    :func:`select_threshold`; the bound then holds per class, so the overall accuracy meets it too.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    pred = np.asarray(predicted, dtype=np.int64)
    hit = _correctness(correct)
    if not conf.shape == pred.shape == hit.shape:
        raise InvalidInputError("confidence, predicted and correct must be equally long")
    return [select_threshold(conf[pred == c], hit[pred == c], **options) for c in range(n_classes)]


def gold_gate(
    confidence: Any,
    predicted: Any,
    gold: Any,
    cut: Any,
    *,
    target: float,
    min_support: int = 10,
    method: BoundMethod = "clopper-pearson",
    level: float = 0.95,
) -> float:
    """The confidence below which no machine label may issue, judged on gold items: ``-inf`` when the gold
    items the round would machine-label do not contradict ``target`` (or are too few to tell), else the lowest
    threshold at which they vouch for it, ``inf`` when none does.

    Why: certification scores the model against what people answered, and a crowd that errs alike (a third
    of them reading sarcasm as praise, graders who call neutral tweets negative) teaches the model its errors
    and then agrees with it. On such a crowd (10,000 tweets, mean worker accuracy 0.56, 200 gold tweets) a
    round certified 6,849 machine labels at a 0.60 target that were 35 % right. Gold labels are the one
    reference that cannot share the crowd's errors.

    Two standards, on purpose. Gold *contradicts* a certification when even the upper confidence bound of its
    accuracy above the round's thresholds is below the target (a few dozen gold tweets that merely look a
    little low do not overrule the validation set). Once contradicted, the crowd's certification counts for
    nothing, and gold alone must vouch the way the validation set would have: the lowest threshold whose
    lower confidence bound reaches the target (:func:`select_threshold`'s rule).

    Args:
        confidence: The round model's calibrated confidence in its prediction, per gold item.
        predicted: Its predicted class, per gold item.
        gold: The gold class, per gold item.
        cut: Per class, the round's own threshold (``inf``: the class is never machine-labeled).
        target: The accuracy machine labels must reach.
        min_support: Fewest gold items at or above a threshold for them to judge it.
        method, level: The confidence bounds (as :func:`select_threshold`).

    Examples:
        >>> gold_gate([0.9] * 20, [0] * 20, [0] * 20, [0.5, 0.5], target=0.8)
        -inf
        >>> gold_gate([0.99] * 40 + [0.6] * 40, [0] * 80, [0] * 40 + [1] * 40, [0.5, 0.5], target=0.9)
        0.99
    """
    conf = np.asarray(confidence, dtype=np.float64)
    pred = np.asarray(predicted, dtype=np.int64)
    truth = np.asarray(gold, dtype=np.int64)
    cuts = np.asarray(cut, dtype=np.float64)
    if not conf.shape == pred.shape == truth.shape or conf.ndim != 1:
        raise InvalidInputError("confidence, predicted and gold must be 1-D and equally long")
    if len(pred) and ((pred < 0).any() or (pred >= len(cuts)).any()):
        raise InvalidInputError("predicted classes must index cut")
    if not 0.0 < target < 1.0:
        raise InvalidInputError(f"target accuracy must be in (0, 1), got {target}")
    above = conf >= cuts[pred] if len(pred) else np.zeros(0, dtype=bool)
    hit = pred == truth
    total = int(above.sum())
    if total < min_support:
        return float("-inf")
    wrong = total - int(hit[above].sum())
    upper = 1.0 - float(accuracy_lower_bound(wrong, total, method=method, level=level))
    if upper >= target:
        return float("-inf")
    choice = select_threshold(
        conf[above], hit[above], target=target, rule="bound", method=method, level=level, min_support=min_support
    )
    return float("inf") if choice is None else choice.threshold

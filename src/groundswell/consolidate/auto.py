"""Choosing an aggregator by name, and the ``auto`` rule that jobs use by default.

Use :func:`make_aggregator` to build one from a name (``"mv"``, ``"wmv"``, ``"ds"``, ``"ods"``,
``"auto"``) and :func:`consolidate` for the one-call path from judgments to a ``task, label, confidence``
table (what the CLI writes and what a job stores).

The ``auto`` rule, measured on synthetic crowds and on the CrowdFlower weather crowd (``bench/RESULTS.md``,
section "consolidation"; on the weather crowd it picks one-coin DS, accuracy .733 / .794 / .807 against
majority vote's .690 / .757 / .775 with 3 / 5 / 3–10 judgments per task):

1. **Majority vote** when tasks have fewer than 2 judgments on average, or there is one label: with no
   overlap between workers there is nothing to estimate worker quality from.
2. **One-coin Dawid–Skene** otherwise, while the median worker has fewer than ``10 · K(K − 1)`` judgments
   (``K`` labels; 60 for three labels). One accuracy per worker, shrunk toward the crowd's, beat majority
   vote in every overlapping setting we measured, even with 2–4 judgments per worker (.72 against .67
   at 2 per task), and never collapsed.
3. **Full Dawid–Skene** (crowd smoothing, ``prior_strength=10``) once the median worker has that many:
   about 10 judgments per free parameter of a confusion matrix. There it learns systematic confusions
   (e.g. neutral read as positive) and was the most accurate method (e.g. .840 against .823 for one-coin
   with ~1,000 judgments per worker), at equal calibration. Below the threshold one-coin was as good or
   better, and with a few judgments per worker full DS can lock onto a wrong labelling (.45 accuracy).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from groundswell.consolidate._encoding import EncodedAnswers
from groundswell.consolidate._validation import AnswersLike, GoldLike
from groundswell.consolidate.base import BaseAggregator, FloatArray, RandomState
from groundswell.consolidate.dawid_skene import DawidSkene, OneCoinDawidSkene
from groundswell.consolidate.majority_vote import MajorityVote, WeightedMajorityVote
from groundswell.errors import UsageError

__all__ = [
    "METHODS",
    "AutoAggregator",
    "Method",
    "choose_method",
    "consolidate",
    "labels_table",
    "make_aggregator",
]

#: Names accepted by :func:`make_aggregator`.
Method = Literal["mv", "wmv", "ds", "ods", "auto"]
METHODS: tuple[str, ...] = get_args(Method)

#: ``auto`` needs this many judgments per task on average before it estimates worker quality.
MIN_JUDGMENTS_PER_TASK = 2.0
#: ``auto`` uses full Dawid–Skene once the median worker has this many judgments per free parameter.
JUDGMENTS_PER_PARAMETER = 10
#: Pseudo-judgments per true class when ``auto`` picks full Dawid–Skene (measured best; see module doc).
AUTO_DS_PRIOR_STRENGTH = 10.0


def choose_method(enc: EncodedAnswers) -> tuple[str, str]:
    """Apply the ``auto`` rule (module docstring) to coded judgments.

    Returns:
        The method name (``"mv"``, ``"ods"`` or ``"ds"``) and a one-line reason.
    """
    k = enc.n_labels
    per_task = enc.n_answers / max(enc.n_tasks, 1)
    if k < 2 or per_task < MIN_JUDGMENTS_PER_TASK:
        return "mv", f"{per_task:.2f} judgments per task on average (< {MIN_JUDGMENTS_PER_TASK:g})"
    median = float(np.median(enc.answers_per_worker()))
    needed = JUDGMENTS_PER_PARAMETER * k * (k - 1)
    if median < needed:
        return "ods", f"median worker has {median:g} judgments (< {needed} for full confusion matrices)"
    return "ds", f"median worker has {median:g} judgments (>= {needed})"


def make_aggregator(
    method: str = "auto",
    *,
    labels: Sequence[Hashable] | None = None,
    random_state: RandomState = 0,
    **params: Any,
) -> BaseAggregator:
    """Build an aggregator from its short name.

    Args:
        method: ``"mv"`` (MajorityVote), ``"wmv"`` (WeightedMajorityVote), ``"ds"`` (DawidSkene), ``"ods"``
            (OneCoinDawidSkene) or ``"auto"`` (AutoAggregator).
        labels: The job's ordered labels.
        random_state: Seed for tie-breaking.
        **params: Further constructor arguments of the chosen class (e.g. ``smoothing="none"``).

    Returns:
        An unfitted aggregator.

    Raises:
        UsageError: If ``method`` is unknown or ``params`` do not fit the class.
    """
    classes: dict[str, Callable[..., BaseAggregator]] = {
        "mv": MajorityVote,
        "wmv": WeightedMajorityVote,
        "ds": DawidSkene,
        "ods": OneCoinDawidSkene,
        "auto": AutoAggregator,
    }
    if method not in classes:
        raise UsageError(f"unknown consolidation method {method!r}; choose one of {', '.join(METHODS)}")
    try:
        return classes[method](labels=labels, random_state=random_state, **params)
    except TypeError as exc:
        raise UsageError(f"bad options for method {method!r}: {exc}") from exc


class AutoAggregator(BaseAggregator):
    """Picks majority vote, one-coin or full Dawid–Skene from the shape of the data (see the module doc).

    The outputs are exactly those the chosen method would give on its own with the same ``random_state``.

    Args:
        labels: The job's ordered labels; default: the sorted labels found.
        random_state: Seed for tie-breaking.

    Attributes:
        method_: The method chosen (``"mv"``, ``"ods"`` or ``"ds"``).
        reason_: Why, in one line.
        aggregator_: The chosen model with its learned parameters (``skills_``, ``confusions_``,
            ``error_correlation_``, ...). Its own ``labels_``/``probas_`` are not set; read them here.
    """

    method_: str
    reason_: str
    aggregator_: BaseAggregator

    def __init__(self, labels: Sequence[Hashable] | None = None, random_state: RandomState = 0) -> None:
        self.labels = labels
        self.random_state = random_state

    def _fit(self, enc: EncodedAnswers, rng: np.random.Generator) -> FloatArray:
        self.method_, self.reason_ = choose_method(enc)
        params = {"smoothing": "crowd", "prior_strength": AUTO_DS_PRIOR_STRENGTH} if self.method_ == "ds" else {}
        self.aggregator_ = make_aggregator(self.method_, labels=self.labels, random_state=self.random_state, **params)
        probas = self.aggregator_._fit(enc, rng)
        self.skills_ = self.aggregator_.skills_
        return probas


def consolidate(
    data: AnswersLike,
    method: str = "auto",
    *,
    labels: Sequence[Hashable] | None = None,
    gold: GoldLike | None = None,
    random_state: RandomState = 0,
) -> pd.DataFrame:
    """Judgments in, one consolidated label per task out.

    Args:
        data: Long table of judgments: ``task, worker, label``.
        method: As for :func:`make_aggregator`; default ``"auto"``.
        labels: The job's ordered labels.
        gold: Known labels of some tasks; they inform worker quality and are left out of the result.
        random_state: Seed for tie-breaking.

    Returns:
        Columns ``task, label, confidence``, one row per non-gold task.

    Raises:
        InvalidInputError: On malformed judgments or gold.
        UsageError: On an unknown method.

    Examples:
        >>> import pandas as pd
        >>> answers = pd.DataFrame({"task": ["a", "a", "a"], "worker": [1, 2, 3],
        ...                         "label": ["pos", "pos", "neg"]})
        >>> consolidate(answers, "mv").to_dict("records")
        [{'task': 'a', 'label': 'pos', 'confidence': 0.6666666666666666}]
    """
    model = make_aggregator(method, labels=labels, random_state=random_state).fit(data, gold)
    return labels_table(model)


def labels_table(model: BaseAggregator) -> pd.DataFrame:
    """A fitted aggregator's result as columns ``task, label, confidence`` (one row per non-gold task)."""
    return pd.DataFrame(
        {
            "task": model.labels_.index.to_numpy(),
            "label": model.labels_.to_numpy(),
            "confidence": model.confidence_.to_numpy(),
        }
    )

"""Choosing an aggregator by name, and the ``auto`` rule that jobs use by default.

Use :func:`make_aggregator` to build one from a name (``"mv"``, ``"wmv"``, ``"ds"``, ``"ods"``, ``"glad"``,
``"mace"``, ``"auto"``) and :func:`consolidate` for the one-call path from judgments to a ``task, label,
confidence`` table (what the CLI writes and what a job stores).

The ``auto`` rule asks the answers themselves (:mod:`.selection`): every candidate — majority vote, weighted
majority vote, one-coin and full Dawid–Skene, GLAD and MACE — is fitted without a share of the answers and
scored by its agreement with them; a method other than majority vote is used only when it surely agrees more
under two weightings that bias the comparison in opposite directions. No method wins everywhere: on the eleven
public crowd sets with gold, Dawid–Skene is among the best on some and 35 points below majority vote on
another (its labelling swapped); MACE is the most accurate on average yet 4 points below majority vote on one
(``bench/RESULTS.md``, section ``crowd-dev``, has every method's figures and ``auto``'s). Majority vote is the
floor because it cannot lock onto a wrong labelling.
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
from groundswell.consolidate.glad import GLAD
from groundswell.consolidate.mace import MACE
from groundswell.consolidate.majority_vote import MajorityVote, WeightedMajorityVote
from groundswell.consolidate.selection import Evidence, pick_by_evidence
from groundswell.errors import UsageError

__all__ = [
    "AUTO_CANDIDATES",
    "METHODS",
    "AutoAggregator",
    "Method",
    "consolidate",
    "labels_table",
    "make_aggregator",
]

#: Names accepted by :func:`make_aggregator`.
Method = Literal["mv", "wmv", "ds", "ods", "glad", "mace", "auto"]
METHODS: tuple[str, ...] = get_args(Method)

#: What ``auto`` compares, with the settings it uses each with (full Dawid–Skene shrinks each worker toward the
#: crowd: with few answers per worker the unshrunk model locks onto wrong labellings).
AUTO_CANDIDATES: dict[str, dict[str, Any]] = {
    "mv": {},
    "wmv": {},
    "ods": {},
    "ds": {"smoothing": "crowd", "prior_strength": 10.0},
    "glad": {},
    "mace": {},
}


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
            (OneCoinDawidSkene), ``"glad"`` (GLAD), ``"mace"`` (MACE) or ``"auto"`` (AutoAggregator).
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
        "glad": GLAD,
        "mace": MACE,
        "auto": AutoAggregator,
    }
    if method not in classes:
        raise UsageError(f"unknown consolidation method {method!r}; choose one of {', '.join(METHODS)}")
    try:
        return classes[method](labels=labels, random_state=random_state, **params)
    except TypeError as exc:
        raise UsageError(f"bad options for method {method!r}: {exc}") from exc


class AutoAggregator(BaseAggregator):
    """Picks the method the answers favour (module docstring; :func:`.selection.pick_by_evidence`).

    The outputs are exactly those the chosen method gives on its own with the same ``random_state``.

    Args:
        labels: The job's ordered labels; default: the sorted labels found.
        random_state: Seed for the folds and tie-breaking.
        folds: Folds of withheld answers.

    Attributes:
        method_: The method chosen (a key of :data:`AUTO_CANDIDATES`).
        reason_: Why, in one line.
        evidence_: Each candidate's :class:`.selection.Evidence` (empty when nothing could be compared).
        aggregator_: The chosen model with its learned parameters (``skills_``, ``confusions_``, ...). Its own
            ``labels_``/``probas_`` are not set; read them here.
    """

    method_: str
    reason_: str
    evidence_: dict[str, Evidence]
    aggregator_: BaseAggregator

    def __init__(self, labels: Sequence[Hashable] | None = None, random_state: RandomState = 0, folds: int = 3) -> None:
        self.labels = labels
        self.random_state = random_state
        self.folds = folds

    def _candidate(self, name: str) -> BaseAggregator:
        return make_aggregator(name, labels=self.labels, random_state=self.random_state, **AUTO_CANDIDATES[name])

    def _fit(self, enc: EncodedAnswers, rng: np.random.Generator) -> FloatArray:
        if self.folds < 2:
            raise UsageError(f"folds must be at least 2, got {self.folds}")
        if enc.n_labels < 2:
            self.method_, self.reason_, self.evidence_ = "mv", "one label: nothing to choose", {}
        else:
            # The folds draw from their own generator, so the chosen method's tie-breaks are its own.
            seed = self.random_state if isinstance(self.random_state, int) else 0
            candidates = [(name, lambda name=name: self._candidate(name)) for name in AUTO_CANDIDATES]
            self.method_, self.reason_, self.evidence_ = pick_by_evidence(
                enc, candidates, folds=self.folds, rng=np.random.default_rng(seed)
            )
        self.aggregator_ = self._candidate(self.method_)
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

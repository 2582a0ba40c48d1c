"""The contract every aggregator keeps, and the small pieces they share.

An aggregator follows scikit-learn's estimator rules as crowd-kit applies them to crowds: the constructor
only stores hyperparameters; ``fit(data, gold=None)`` validates, learns and returns ``self``; learned
attributes end in ``_``; randomness (only ever used to break exact ties) comes from ``random_state``.
Every aggregator exposes, over the non-gold tasks:

* ``probas_``: DataFrame task × label, rows sum to 1, columns in the job's label order;
* ``labels_``: Series task → winning label;
* ``confidence_``: Series task → the probability of the winning label;
* ``skills_``: Series worker → estimated accuracy.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from typing import Any, Self, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from groundswell.consolidate._encoding import EncodedAnswers, encode_answers
from groundswell.consolidate._validation import AnswersLike, GoldLike

__all__ = ["BaseAggregator", "RandomState", "agreement_skills", "most_probable", "winners"]

#: Seed, generator, or ``None`` for fresh entropy (as ``numpy.random.default_rng`` accepts).
RandomState: TypeAlias = int | np.random.Generator | None

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

_TIE_TOLERANCE = 1e-12


def most_probable(probas: FloatArray, rng: np.random.Generator) -> IntArray:
    """Row-wise argmax that breaks exact ties at random (seeded), not towards the first label.

    Always picking the first tied label would bias the output towards whichever label sorts first.
    """
    top = probas.max(axis=1, keepdims=True)
    tied = probas >= top - _TIE_TOLERANCE
    return np.asarray(np.argmax(rng.random(probas.shape) * tied, axis=1), dtype=np.intp)


def winners(probas: FloatArray) -> FloatArray:
    """Per task, 1 on the most probable label, shared ``1/m`` among ``m`` exactly tied labels.

    Scoring workers against this instead of a randomly tie-broken label gives the expected agreement
    under random tie-breaking: the same number whatever the seed or the order of the ids.
    """
    top = probas.max(axis=1, keepdims=True)
    tied = (probas >= top - _TIE_TOLERANCE).astype(np.float64)
    return np.asarray(tied / tied.sum(axis=1, keepdims=True), dtype=np.float64)


def agreement_skills(enc: EncodedAnswers, reference: FloatArray) -> FloatArray:
    """Per worker: the share of their judgments that match the reference (gold labels where known).

    Args:
        enc: Coded judgments.
        reference: Per task and label, the weight of that label as the right answer (e.g. :func:`winners`
            of a majority vote). Gold tasks are scored against their gold label instead.

    Returns:
        Accuracy per worker code, in ``[0, 1]``.
    """
    ref = reference.copy()
    gold = enc.is_gold
    ref[gold] = 0.0
    ref[gold, enc.gold[gold]] = 1.0
    hits = ref[enc.task, enc.label]
    total = np.bincount(enc.worker, minlength=enc.n_workers)
    return np.bincount(enc.worker, weights=hits, minlength=enc.n_workers) / np.maximum(total, 1)


class BaseAggregator(ABC):
    """Abstract base: subclasses implement :meth:`_fit`, which returns task posteriors as an array.

    Attributes:
        labels_: Winning label per non-gold task (Series indexed by ``task``).
        probas_: Probability of each label per non-gold task (DataFrame, task × label, rows sum to 1).
        confidence_: Probability of the winning label per non-gold task.
        skills_: Estimated accuracy per worker (Series indexed by ``worker``).
    """

    labels: Sequence[Hashable] | None
    random_state: RandomState

    labels_: pd.Series[Any]
    probas_: pd.DataFrame
    confidence_: pd.Series[float]
    skills_: pd.Series[float]

    @abstractmethod
    def _fit(self, enc: EncodedAnswers, rng: np.random.Generator) -> FloatArray:
        """Learn from coded judgments; return posteriors for every task (gold included), rows summing to 1."""

    def fit(self, data: AnswersLike, gold: GoldLike | None = None) -> Self:
        """Learn labels, probabilities and worker skills from judgments.

        Args:
            data: Long table of judgments: columns ``task``, ``worker``, ``label``.
            gold: Known labels of some tasks (task → label). They inform worker skills and are left out of
                ``labels_``, ``probas_`` and ``confidence_``.

        Returns:
            The fitted aggregator.

        Raises:
            InvalidInputError: If the judgments or gold are malformed (see ``check_answers``).
        """
        enc = encode_answers(data, self.labels, gold)
        rng = np.random.default_rng(self.random_state)
        probas = self._fit(enc, rng)
        choice = most_probable(probas, rng)
        keep = ~enc.is_gold
        if keep.all():  # no gold: no row selection (and no copies of task-sized arrays)
            tasks, chosen, kept = enc.tasks, choice, probas
        else:
            tasks, chosen, kept = enc.tasks[keep], choice[keep], probas[keep]
        self.probas_ = pd.DataFrame(kept, index=tasks, columns=enc.labels)
        self.labels_ = pd.Series(enc.labels[chosen], index=tasks, name="label")
        self.confidence_ = pd.Series(kept[np.arange(len(chosen)), chosen], index=tasks, name="confidence")
        return self

    def fit_predict(self, data: AnswersLike, gold: GoldLike | None = None) -> pd.Series[Any]:
        """Fit, then return ``labels_`` (task → label)."""
        return self.fit(data, gold).labels_

    def fit_predict_proba(self, data: AnswersLike, gold: GoldLike | None = None) -> pd.DataFrame:
        """Fit, then return ``probas_`` (task × label, rows sum to 1)."""
        return self.fit(data, gold).probas_

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments as stored (scikit-learn's convention), for reports and cloning."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _skills_series(self, enc: EncodedAnswers, values: FloatArray) -> pd.Series[float]:
        return pd.Series(values, index=enc.workers, name="skill")

"""The contract every query strategy keeps: validated input, ``n`` pool positions out, scores kept.

A strategy sees the model's class probabilities on the unlabeled pool (and, for diversity, the pool's
feature rows), never the model or the database. That keeps strategies pure and testable with hand-written
probability tables, and lets any classifier with ``predict_proba`` drive them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from numpy.typing import NDArray

from groundswell.errors import InvalidInputError

__all__ = [
    "EmptyPoolError",
    "FloatArray",
    "IntArray",
    "PoolExhaustedError",
    "QueryStrategy",
    "RandomState",
    "UncertaintyStrategy",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
#: A seed, a ``numpy.random.Generator``, or ``None`` for fresh entropy (scikit-learn's convention).
RandomState = int | np.random.Generator | None


class EmptyPoolError(InvalidInputError):
    """There is nothing left to query."""


class PoolExhaustedError(InvalidInputError):
    """More items were asked for than the pool holds."""


def check_proba(proba: Any) -> FloatArray:
    """A 2-D float array of probabilities with rows summing to 1; ``InvalidInputError`` naming the bad row."""
    array = np.asarray(proba, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 2:
        raise InvalidInputError(f"probabilities must be a 2-D array with a column per class, got shape {array.shape}")
    if not np.isfinite(array).all() or (array < 0).any():
        row = int(np.flatnonzero(~np.isfinite(array).all(axis=1) | (array < 0).any(axis=1))[0])
        raise InvalidInputError(f"probabilities must be finite and non-negative; row {row} is {array[row].tolist()}")
    sums = array.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-6)
    if len(bad):
        raise InvalidInputError(
            f"each row of probabilities must sum to 1; row {int(bad[0])} sums to {sums[bad[0]]:.6f}"
        )
    return array


class QueryStrategy(ABC):
    """Pick the ``n`` most useful pool items for people to label next.

    Subclasses implement :meth:`_query`; :meth:`query` validates the input first and raises
    :class:`EmptyPoolError` / :class:`PoolExhaustedError` instead of returning fewer items than asked.
    ``last_scores_`` holds the per-item informativeness of the last call (higher = more useful), so a caller
    can turn it into routing priorities for the items not picked.
    """

    #: The name used in job settings (``query_strategy``).
    name: str = ""

    def __init__(self) -> None:
        self.last_scores_: FloatArray | None = None

    def query(self, proba: Any, n: int, *, features: Any | None = None, random_state: RandomState = None) -> IntArray:
        """Positions (row numbers of ``proba``) of the ``n`` items to label next, most useful first.

        Args:
            proba: Class probabilities of the pool, shape ``(pool size, classes)``.
            n: How many to pick; 0 returns an empty array.
            features: Feature rows of the pool (dense or scipy sparse), for strategies that need them.
            random_state: Seed or generator for strategies that draw at random or break ties.
        """
        array = check_proba(proba)
        if len(array) == 0:
            raise EmptyPoolError("the pool is empty: there is nothing left to query")
        if n < 0 or n > len(array):
            raise PoolExhaustedError(f"cannot query {n} items from a pool of {len(array)}")
        if features is not None and features.shape[0] != len(array):
            raise InvalidInputError(f"features have {features.shape[0]} rows but the pool has {len(array)}")
        chosen = self._query(array, n, features, np.random.default_rng(random_state))
        return np.asarray(chosen, dtype=np.intp)

    @abstractmethod
    def _query(self, proba: FloatArray, n: int, features: Any | None, rng: np.random.Generator) -> IntArray:
        """Validated input in, ``n`` distinct positions out; must set ``last_scores_``."""


class UncertaintyStrategy(QueryStrategy):
    """Rank by one uncertainty score per item; subclasses only define :meth:`score`.

    Ties are broken at random (seeded), so two equally unsure tweets are not always taken in pool order.
    """

    @abstractmethod
    def score(self, proba: FloatArray) -> FloatArray:
        """Per-item uncertainty, higher = less sure."""

    def _query(self, proba: FloatArray, n: int, features: Any | None, rng: np.random.Generator) -> IntArray:
        scores = self.score(proba)
        self.last_scores_ = scores
        order = np.lexsort((rng.random(len(scores)), -scores))
        return np.asarray(order[:n], dtype=np.intp)

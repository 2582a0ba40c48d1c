"""The query strategies: random, least confidence, margin, entropy, and a diversity-aware batch.

Which to use when:

- :class:`RandomSampling`: the baseline, and the safe default on TF-IDF features with few labels, where
  uncertainty sampling measured *worse* than random on TweetEval (issue 5's notes).
- :class:`LeastConfidence`, :class:`Margin` (a.k.a. breaking ties), :class:`Entropy`: classic uncertainty
  sampling; they differ only in how the probability row becomes one number.
- :class:`DiverseBatch`: uncertainty first, then farthest-first (k-center greedy) over the feature rows of
  the most uncertain candidates, so one batch is not fifty retweets of the same ambiguous tweet.

:func:`make_strategy` builds one from its settings name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from groundswell.active.base import FloatArray, IntArray, QueryStrategy, UncertaintyStrategy
from groundswell.errors import InvalidInputError

__all__ = [
    "STRATEGIES",
    "DiverseBatch",
    "Entropy",
    "LeastConfidence",
    "Margin",
    "RandomSampling",
    "make_strategy",
]


class RandomSampling(QueryStrategy):
    """Uniformly random items; every score is 0 (no item is more useful than another)."""

    name = "random"

    def _query(self, proba: FloatArray, n: int, features: Any | None, rng: np.random.Generator) -> IntArray:
        self.last_scores_ = np.zeros(len(proba))
        return np.asarray(rng.permutation(len(proba))[:n], dtype=np.intp)


class LeastConfidence(UncertaintyStrategy):
    """``1 − max p``: the items whose best guess is weakest."""

    name = "least-confidence"

    def score(self, proba: FloatArray) -> FloatArray:
        return np.asarray(1.0 - proba.max(axis=1), dtype=np.float64)


class Margin(UncertaintyStrategy):
    """``1 − (p₁ − p₂)``: the items whose two best classes are closest (Scheffer et al. 2001)."""

    name = "margin"

    def score(self, proba: FloatArray) -> FloatArray:
        top2 = np.sort(proba, axis=1)[:, -2:]
        return np.asarray(1.0 - (top2[:, 1] - top2[:, 0]), dtype=np.float64)


class Entropy(UncertaintyStrategy):
    """Shannon entropy of the row, in nats: uses every class, not only the top two."""

    name = "entropy"

    def score(self, proba: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(proba > 0, proba * np.log(proba), 0.0)
        return np.asarray(-terms.sum(axis=1), dtype=np.float64)


class DiverseBatch(QueryStrategy):
    """Uncertain *and* different: the ``candidates × n`` most uncertain items, thinned by k-center greedy.

    The first pick is the most uncertain candidate; each next pick is the candidate farthest (cosine
    distance on the feature rows) from everything picked so far. Near-duplicate tweets sit at distance ≈ 0,
    so at most one of a cluster is taken per batch. Needs ``features`` (any dense or sparse matrix).

    Args:
        base: The uncertainty strategy that chooses the candidates (default :class:`Margin`).
        candidates: Candidate pool size as a multiple of ``n``.
    """

    name = "diverse"

    def __init__(self, base: UncertaintyStrategy | None = None, candidates: float = 5.0) -> None:
        super().__init__()
        self.base = base
        self.candidates = candidates

    def _query(self, proba: FloatArray, n: int, features: Any | None, rng: np.random.Generator) -> IntArray:
        if features is None:
            raise InvalidInputError("the diverse strategy needs the pool's feature rows (features=...)")
        if self.candidates < 1:
            raise InvalidInputError(f"candidates must be at least 1, got {self.candidates}")
        base = self.base or Margin()
        scores = base.score(proba)
        self.last_scores_ = scores
        if n == 0:
            return np.empty(0, dtype=np.intp)
        order = np.lexsort((rng.random(len(scores)), -scores))
        pool = order[: min(len(order), max(n, int(np.ceil(n * self.candidates))))]
        from sklearn.preprocessing import normalize  # lazily: scikit-learn takes a second to import

        rows = normalize(sparse.csr_matrix(features[pool]) if sparse.issparse(features) else np.asarray(features[pool]))
        picked = [0]  # positions within ``pool``; the most uncertain candidate first
        nearest = 1.0 - _similarity(rows, 0)
        nearest[0] = -np.inf
        while len(picked) < n:
            nxt = int(np.argmax(nearest))  # ties → the earlier (more uncertain) candidate
            picked.append(nxt)
            nearest = np.minimum(nearest, 1.0 - _similarity(rows, nxt))
            nearest[picked] = -np.inf
        return np.asarray(pool[picked], dtype=np.intp)


def _similarity(rows: Any, index: int) -> FloatArray:
    """Cosine similarity of every (L2-normalised) row to row ``index``."""
    product = rows @ rows[index].T
    dense = product.toarray() if sparse.issparse(product) else np.asarray(product)
    return np.asarray(dense, dtype=np.float64).ravel()


#: Settings name → constructor.
STRATEGIES: dict[str, type[QueryStrategy]] = {
    cls.name: cls for cls in (RandomSampling, LeastConfidence, Margin, Entropy, DiverseBatch)
}


def make_strategy(name: str) -> QueryStrategy:
    """The strategy called ``name`` (see :data:`STRATEGIES`); ``InvalidInputError`` naming the choices."""
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise InvalidInputError(f"unknown query strategy {name!r}; choose one of: {', '.join(STRATEGIES)}") from None

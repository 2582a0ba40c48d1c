"""Query strategies on toy pools: one contract every strategy keeps, then each strategy's own answer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from groundswell.active import (
    STRATEGIES,
    DiverseBatch,
    EmptyPoolError,
    Entropy,
    LeastConfidence,
    Margin,
    PoolExhaustedError,
    QueryStrategy,
    RandomSampling,
    make_strategy,
)
from groundswell.errors import InvalidInputError

#: Rows: sure, fairly sure, torn between two, torn between all three.
TOY = np.array([[0.98, 0.01, 0.01], [0.7, 0.2, 0.1], [0.45, 0.45, 0.10], [0.34, 0.33, 0.33]])
FEATURES = np.eye(4)


@pytest.fixture(params=sorted(STRATEGIES))
def strategy(request: pytest.FixtureRequest) -> QueryStrategy:
    return make_strategy(request.param)


class TestContract:
    def test_queries_n_distinct_items(self, strategy: QueryStrategy) -> None:
        picked = strategy.query(TOY, 2, features=FEATURES, random_state=0)
        assert len(picked) == 2 and len(set(picked.tolist())) == 2
        assert strategy.last_scores_ is not None and len(strategy.last_scores_) == len(TOY)

    def test_takes_the_whole_pool(self, strategy: QueryStrategy) -> None:
        picked = strategy.query(TOY, 4, features=FEATURES, random_state=0)
        assert sorted(picked.tolist()) == [0, 1, 2, 3]

    def test_refuses_more_than_the_pool(self, strategy: QueryStrategy) -> None:
        with pytest.raises(PoolExhaustedError):
            strategy.query(TOY, 5, features=FEATURES)

    def test_refuses_an_empty_pool(self, strategy: QueryStrategy) -> None:
        with pytest.raises(EmptyPoolError):
            strategy.query(np.empty((0, 3)), 0, features=np.empty((0, 4)))

    def test_refuses_rows_that_are_not_probabilities(self, strategy: QueryStrategy) -> None:
        with pytest.raises(InvalidInputError, match="row 1"):
            strategy.query(np.array([[0.5, 0.5], [0.9, 0.3]]), 1, features=np.eye(2))

    def test_same_seed_same_answer(self, strategy: QueryStrategy) -> None:
        a = strategy.query(TOY, 3, features=FEATURES, random_state=7)
        b = make_strategy(strategy.name).query(TOY, 3, features=FEATURES, random_state=7)
        assert a.tolist() == b.tolist()


def test_uncertainty_strategies_rank_the_toy_pool() -> None:
    assert LeastConfidence().query(TOY, 4, random_state=0).tolist() == [3, 2, 1, 0]
    assert Entropy().query(TOY, 4, random_state=0).tolist() == [3, 2, 1, 0]
    # Margin: rows 2 (0.45 vs 0.45) and 3 (0.34 vs 0.33) are the closest calls; row 2's margin is 0.
    assert Margin().query(TOY, 2, random_state=0).tolist() == [2, 3]


def test_random_sampling_is_uniform_over_seeds() -> None:
    first = [RandomSampling().query(TOY, 1, random_state=seed)[0] for seed in range(400)]
    counts = np.bincount(first, minlength=4)
    assert counts.min() > 60


def test_diverse_batch_skips_near_duplicates() -> None:
    # Items 0–2 are the same tweet (identical features) and the most uncertain; item 3 is different but less
    # uncertain. Plain margin takes two copies; the diverse batch takes one copy and item 3.
    proba = np.array([[0.5, 0.5], [0.5, 0.5], [0.51, 0.49], [0.6, 0.4], [0.99, 0.01]])
    features = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    assert set(Margin().query(proba, 2, random_state=0).tolist()) <= {0, 1, 2}
    picked = DiverseBatch(candidates=2).query(proba, 2, features=features, random_state=0).tolist()
    assert len(set(picked) & {0, 1, 2}) == 1 and 3 in picked


def test_diverse_batch_needs_features_and_works_on_sparse_rows() -> None:
    from scipy import sparse

    with pytest.raises(InvalidInputError, match="features"):
        DiverseBatch().query(TOY, 2)
    picked = DiverseBatch().query(TOY, 3, features=sparse.csr_matrix(FEATURES), random_state=0)
    assert len(set(picked.tolist())) == 3


def test_unknown_strategy_names_the_choices() -> None:
    with pytest.raises(InvalidInputError, match="margin"):
        make_strategy("smartest")


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(2, 4)), elements=st.floats(0.01, 1)),
    st.data(),
)
def test_every_strategy_returns_n_distinct_positions(raw: np.ndarray, data: st.DataObject) -> None:
    proba = raw / raw.sum(axis=1, keepdims=True)
    n = data.draw(st.integers(0, len(proba)))
    for name in STRATEGIES:
        picked = make_strategy(name).query(proba, n, features=raw, random_state=1)
        assert len(picked) == n == len(set(picked.tolist()))
        assert all(0 <= p < len(proba) for p in picked)

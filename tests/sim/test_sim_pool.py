"""Pool files: explicit and parametric pools, neighbouring-sentiment errors, and what a bad file says."""

from __future__ import annotations

import numpy as np
import pytest

from groundswell.errors import InvalidInputError
from groundswell.sim import parametric_pool, parse_pool


def test_parametric_errors_fall_mostly_on_the_neighbouring_sentiment() -> None:
    pool = parametric_pool(["positive", "negative", "neutral"], 200, accuracy_mean=0.7, accuracy_sd=0.1)
    confusion = np.mean([w.confusion for w in pool.workers], axis=0)
    np.testing.assert_allclose(confusion.sum(axis=1), 1.0)
    # Rows/columns follow the given order: positive, negative, neutral.
    assert confusion[0, 2] > 3 * confusion[0, 1]  # positive is mistaken for neutral, rarely for negative
    assert confusion[1, 2] > 3 * confusion[1, 0]
    assert confusion[2, 0] == pytest.approx(confusion[2, 1])  # neutral's two neighbours share its errors
    assert 0.65 < np.mean(np.diag(confusion)) < 0.75


def test_spammers_answer_uniformly_and_answers_follow_the_matrix() -> None:
    pool = parametric_pool(["a", "b"], 10, spammer_share=1.0)
    assert all(np.allclose(w.confusion, 0.5) for w in pool.workers)
    explicit = parse_pool({"labels": ["a", "b"], "workers": [{"id": "x", "confusion": [[1, 0], [0, 1]], "weight": 2}]})
    rng = np.random.default_rng(0)
    assert {explicit.answer(0, "b", rng) for _ in range(20)} == {"b"}
    assert explicit.workers[0].weight == 2 and explicit.weights().tolist() == [1.0]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"labels": ["a"]}, "labels"),
        ({"labels": ["a", "b"], "workers": [{"confusion": [[1, 0]]}]}, "2×2"),
        ({"labels": ["a", "b"], "workers": []}, "empty"),
        ({"labels": ["a", "b"], "accuracy_mean": 0.8}, "n_workers"),
    ],
)
def test_bad_pools_say_what_is_wrong(document: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_pool(document)

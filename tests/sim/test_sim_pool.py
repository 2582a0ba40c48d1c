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


SENTIMENT = ["negative", "neutral", "positive"]
SARCASM = {"share": 0.33, "from": "negative", "to": "positive", "rate": 0.3}


def test_systematic_confusion_moves_the_stated_rate_onto_the_stated_cell() -> None:
    base = {"labels": SENTIMENT, "n_workers": 50, "accuracy_mean": 0.75, "accuracy_sd": 0.1, "seed": 3}
    plain, confused = parse_pool(base), parse_pool(base | {"systematic": SARCASM})
    affected = [
        j
        for j, (p, c) in enumerate(zip(plain.workers, confused.workers, strict=True))
        if not np.allclose(p.confusion, c.confusion)
    ]
    assert len(affected) == 17  # 0.33 × 50, rounded
    for j in affected:
        before, after = plain.workers[j].confusion, confused.workers[j].confusion
        np.testing.assert_allclose(after.sum(axis=1), 1.0)
        assert after[0, 2] == pytest.approx(0.3 + 0.7 * before[0, 2])  # the rate, on top of the normal errors
        np.testing.assert_allclose(after[0, :2], 0.7 * before[0, :2])
        np.testing.assert_allclose(after[1:], before[1:])  # other rows untouched
    assert confused.workers[affected[0]].id == plain.workers[affected[0]].id


@pytest.mark.parametrize(("share", "expected"), [(0.0, 0), (0.5, 5), (1.0, 10)])
def test_systematic_share_is_the_share_of_affected_workers(share: float, expected: int) -> None:
    systematic = SARCASM | {"share": share, "rate": 1.0}
    pool = parametric_pool(SENTIMENT, 10, accuracy_sd=0.0, systematic=systematic)
    assert sum(w.confusion[0, 2] == pytest.approx(1.0) for w in pool.workers) == expected


@pytest.mark.parametrize(
    ("systematic", "message"),
    [
        ("sarcasm", "systematic: must be an object"),
        (SARCASM | {"share": 1.5}, r"systematic\.share must be a number in \[0, 1\]"),
        (SARCASM | {"rate": -0.1}, r"systematic\.rate must be a number"),
        (SARCASM | {"rate": "0.3"}, r"systematic\.rate must be a number"),
        (SARCASM | {"from": "angry"}, r"systematic\.from must be one of the pool's labels"),
        (SARCASM | {"to": "negative"}, "'from' and 'to' must be different"),
        ({"share": 0.3, "from": "negative", "to": "positive"}, "missing key.*rate"),
        (SARCASM | {"cell": 1}, "unknown key.*cell"),
    ],
)
def test_bad_systematic_confusions_name_the_key(systematic: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_pool({"labels": SENTIMENT, "n_workers": 5, "systematic": systematic})


def test_systematic_is_refused_on_explicit_pools() -> None:
    workers = [{"confusion": np.eye(3).tolist()}]
    with pytest.raises(InvalidInputError, match="'systematic' applies to parametric pools"):
        parse_pool({"labels": SENTIMENT, "workers": workers, "systematic": SARCASM})

"""Dawid–Skene with a prior per task: every parameter estimated from the answers, and honest posteriors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundswell.consolidate import PriorDawidSkene, expected_calibration_error, expected_confusion, vote_prior
from groundswell.errors import InvalidInputError


def _symmetric(accuracy: float, k: int) -> np.ndarray:
    matrix = np.full((k, k), (1 - accuracy) / (k - 1))
    np.fill_diagonal(matrix, accuracy)
    return matrix


def _crowd(
    n: int,
    accuracies: list[float],
    *,
    seed: int = 0,
    shares: tuple[float, ...] = (0.3, 0.45, 0.25),
    answers: tuple[int, ...] = (1, 1, 1, 2, 3),
    model_scale: float = 1.2,
    model_sharpness: float = 1.8,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Answers of workers with the given accuracies (errors spread evenly), most tasks answered once, and a
    model whose probabilities are ``model_sharpness / model_scale`` times too sharp."""
    rng = np.random.default_rng(seed)
    k = len(shares)
    truth = rng.choice(k, size=n, p=shares)
    rows = []
    for task in range(n):
        for worker in rng.choice(len(accuracies), size=int(rng.choice(answers)), replace=False):
            label = rng.choice(k, p=_symmetric(accuracies[worker], k)[truth[task]])
            rows.append((task, int(worker), int(label)))
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), truth] += model_scale
    proba = np.exp(logits * model_sharpness)
    proba /= proba.sum(axis=1, keepdims=True)
    return pd.DataFrame(rows, columns=["task", "worker", "label"]), pd.DataFrame(proba), truth


def test_posteriors_are_calibrated_with_a_prior_and_without() -> None:
    accuracies = list(np.clip(np.random.default_rng(1).normal(0.72, 0.12, 40), 0.4, 0.97)) + [1 / 3] * 6
    answers, priors, truth = _crowd(6000, accuracies)
    for prior in (None, priors):
        model = PriorDawidSkene(labels=[0, 1, 2]).fit(answers, priors=prior)
        probas = model.probas_.to_numpy()
        right = probas.argmax(axis=1) == truth[model.probas_.index]
        assert expected_calibration_error(probas.max(axis=1), right) < 0.03
        assert abs(probas.max(axis=1).mean() - right.mean()) < 0.02
    with_prior = PriorDawidSkene(labels=[0, 1, 2]).fit(answers, priors=priors)
    alone = PriorDawidSkene(labels=[0, 1, 2]).fit(answers)
    hit = lambda m: (m.labels_.to_numpy() == truth[m.labels_.index]).mean()  # noqa: E731
    assert hit(with_prior) > hit(alone) + 0.03  # the model's vote is worth something


def test_the_prior_temperature_is_estimated_from_the_answers() -> None:
    # Probabilities 1.8 / 1.2 = 1.5 times too sharp (see _crowd): the fit should soften them by about 1.5.
    answers, priors, _ = _crowd(6000, [0.75] * 30, seed=2)
    model = PriorDawidSkene(labels=[0, 1, 2]).fit(answers, priors=priors)
    assert model.temperature_ == pytest.approx(1.5, abs=0.25)
    fixed = PriorDawidSkene(labels=[0, 1, 2], learn_temperature=False).fit(answers, priors=priors)
    assert fixed.temperature_ == 1.0


def test_spammers_and_experts_are_told_apart_and_sparse_workers_stay_near_the_crowd() -> None:
    accuracies = [0.9] * 10 + [1 / 3] * 4
    answers, priors, _ = _crowd(4000, accuracies, seed=3)
    # One extra worker with three answers, all wrong by construction.
    extra = pd.DataFrame({"task": [0, 1, 2], "worker": [99] * 3, "label": [1, 1, 1]})
    model = PriorDawidSkene(labels=[0, 1, 2]).fit(pd.concat([answers, extra]), priors=priors)
    skills = model.skills_
    assert skills.loc[list(range(10))].min() > 0.8
    assert skills.loc[list(range(10, 14))].max() < 0.5
    crowd = float(np.trace(model.crowd_confusion_.to_numpy()) / 3)
    assert abs(skills.loc[99] - crowd) < 0.25  # three answers move a worker only part of the way
    # The spread of skills (experts next to spammers) keeps the estimated shrinkage weak.
    assert model.strength_ < 10


def test_gold_measures_workers_and_gives_a_calibration_check() -> None:
    answers, priors, truth = _crowd(3000, [0.8] * 20, seed=4)
    gold = pd.Series(truth[:300], index=range(300))
    model = PriorDawidSkene(labels=[0, 1, 2]).fit(answers, gold, priors=priors)
    assert not model.probas_.index.isin(gold.index).any()
    assert list(model.gold_probas_.index) == sorted(set(answers["task"]) & set(gold.index))
    hits = model.gold_probas_.to_numpy().argmax(axis=1) == gold.loc[model.gold_probas_.index].to_numpy()
    # Without its gold label, a gold task's posterior is as honest as any other's.
    assert abs(model.gold_probas_.max(axis=1).mean() - hits.mean()) < 0.06


def test_items_without_a_prior_take_the_class_shares() -> None:
    answers, _, _ = _crowd(3000, [0.8] * 20, seed=5, shares=(0.15, 0.7, 0.15))
    model = PriorDawidSkene(labels=[0, 1, 2]).fit(answers)
    assert model.shares_.iloc[1] == pytest.approx(0.7, abs=0.05)


def test_priors_are_checked() -> None:
    answers = pd.DataFrame({"task": [0, 1], "worker": [0, 0], "label": ["a", "b"]})
    with pytest.raises(InvalidInputError, match="lack a column"):
        PriorDawidSkene(labels=["a", "b"]).fit(answers, priors=pd.DataFrame({"a": [0.5, 0.5]}))
    with pytest.raises(InvalidInputError, match="negative"):
        PriorDawidSkene(labels=["a", "b"]).fit(answers, priors=pd.DataFrame({"a": [-1.0, 0.5], "b": [2.0, 0.5]}))
    # A prior that names only some tasks, or has a missing value, leaves the others without one.
    partial = pd.DataFrame({"a": [0.9, np.nan], "b": [0.1, np.nan]}, index=[0, 1])
    model = PriorDawidSkene(labels=["a", "b"]).fit(answers, priors=partial)
    assert model.probas_.loc[0, "a"] > model.probas_.loc[1, "a"]


def test_a_vote_prior_is_capped_and_uniform_without_a_vote() -> None:
    assert vote_prior(1, 1.0, 3)[1] == pytest.approx(0.99)
    assert vote_prior(None, None, 3).tolist() == pytest.approx([1 / 3] * 3)
    assert vote_prior(1, 0.1, 3).tolist() == pytest.approx([1 / 3] * 3)
    assert vote_prior(5, 0.9, 3).tolist() == pytest.approx([1 / 3] * 3)


def test_the_next_answers_confusion_weighs_workers_by_their_answers() -> None:
    good, spammer = _symmetric(0.9, 3), np.full((3, 3), 1 / 3)
    mean = expected_confusion(np.stack([good, spammer]), np.array([3.0, 1.0]))
    assert mean[0, 0] == pytest.approx(0.75 * 0.9 + 0.25 / 3)
    with pytest.raises(InvalidInputError):
        expected_confusion(np.stack([good, spammer]), np.array([1.0]))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 6), st.integers(0, 2)), min_size=1, max_size=120),
    st.booleans(),
)
def test_posteriors_are_distributions_whatever_the_answers(rows: list[tuple[int, int, int]], prior: bool) -> None:
    frame = pd.DataFrame(rows, columns=["task", "worker", "label"]).drop_duplicates(["task", "worker"])
    priors = pd.DataFrame(np.full((31, 3), 1 / 3)) if prior else None
    if priors is not None:
        priors.iloc[::2, 0] = 0.9
    model = PriorDawidSkene(labels=[0, 1, 2]).fit(frame, priors=priors)
    probas = model.probas_.to_numpy()
    assert np.isfinite(probas).all() and np.allclose(probas.sum(axis=1), 1)
    assert set(model.probas_.index) == set(frame["task"])
    confusions = model.confusions_.to_numpy().reshape(-1, 3, 3)
    assert np.allclose(confusions.sum(axis=2), 1)

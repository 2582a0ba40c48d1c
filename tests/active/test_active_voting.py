"""The model as one more voter: priors, shrunk worker confusions, posteriors, and temperature calibration."""

from __future__ import annotations

import numpy as np
import pytest

from groundswell.active import (
    apply_temperature,
    expected_calibration_error,
    fit_posteriors,
    fit_temperature,
    model_prior,
    posterior,
    symmetric_confusion,
    worker_confusion,
)
from groundswell.errors import InvalidInputError

AVERAGE = symmetric_confusion(0.7, 3)  # right 70 %, each wrong class 15 %


def test_one_person_agreeing_with_a_confident_model_settles_the_item() -> None:
    agree = posterior(model_prior(0, 0.7, 3), [AVERAGE], [0])
    # 0.7·0.7 against 0.15·0.15 twice: 0.49 / 0.535.
    assert agree[0] == pytest.approx(0.49 / 0.535)
    assert agree.max() >= 0.9


def test_a_person_disagreeing_with_the_model_leaves_it_unsure() -> None:
    disagree = posterior(model_prior(0, 0.7, 3), [AVERAGE], [1])
    assert disagree[0] == pytest.approx(disagree[1]) == pytest.approx(0.105 / 0.2325)
    assert disagree.max() < 0.5


def test_without_a_vote_one_answer_is_as_sure_as_its_worker() -> None:
    assert model_prior(None, None, 3).tolist() == pytest.approx([1 / 3] * 3)
    assert posterior(model_prior(None, None, 3), [AVERAGE], [2])[2] == pytest.approx(0.7)
    # Two agreeing average workers: 0.49 / (0.49 + 2·0.0225).
    two = posterior(model_prior(None, None, 3), [AVERAGE, AVERAGE], [2, 2])
    assert two[2] == pytest.approx(0.49 / 0.535)


def test_a_vote_is_never_certain_and_a_bad_vote_is_ignored() -> None:
    assert model_prior(1, 1.0, 3)[1] == pytest.approx(0.99)
    assert model_prior(1, 0.1, 3).tolist() == pytest.approx([1 / 3] * 3)  # clipped up to 1/k
    assert model_prior(5, 0.9, 3).tolist() == pytest.approx([1 / 3] * 3)  # unknown class


def test_fitted_skills_are_shrunk_towards_the_default_by_their_support() -> None:
    expert = symmetric_confusion(0.95, 3)
    few = worker_confusion(3, confusion=expert, answers=10, default_accuracy=0.7, strength=10)
    many = worker_confusion(3, confusion=expert, answers=990, default_accuracy=0.7, strength=10)
    assert few[0, 0] == pytest.approx((0.95 + 0.7) / 2)
    assert many[0, 0] == pytest.approx(0.95 * 0.99 + 0.7 * 0.01)
    assert worker_confusion(3)[0, 0] == pytest.approx(0.7)
    assert worker_confusion(3, accuracy=0.9, answers=10**6)[1, 1] == pytest.approx(0.9, abs=1e-4)
    np.testing.assert_allclose(worker_confusion(3, confusion=[[1, 0]], answers=50).sum(axis=1), 1.0)


def test_temperature_scaling_calibrates_an_overconfident_model() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    y = rng.integers(0, 3, n)
    # An overconfident model: says 0.9 for its class, right 60 % of the time.
    pred = np.where(rng.random(n) < 0.6, y, (y + rng.integers(1, 3, n)) % 3)
    proba = np.full((n, 3), 0.05)
    proba[np.arange(n), pred] = 0.9
    t = fit_temperature(proba, y)
    calibrated = apply_temperature(proba, t)
    assert t > 1.5
    before = expected_calibration_error(proba.max(axis=1), pred == y)
    after = expected_calibration_error(calibrated.max(axis=1), calibrated.argmax(axis=1) == y)
    assert before == pytest.approx(0.3, abs=0.03)
    assert after < 0.03
    assert (calibrated.argmax(axis=1) == pred).all()  # calibration never changes the predicted class
    assert fit_temperature(proba[:10], y[:10]) == 1.0  # too few labels: left alone


def test_ece_of_known_bins() -> None:
    assert expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, False, True, False]) == pytest.approx(0.25)
    assert expected_calibration_error([], []) == 0.0


def test_em_with_a_prior_per_item_tells_good_workers_from_spammers_without_gold() -> None:
    rng = np.random.default_rng(0)
    n, k = 600, 3
    truth = rng.integers(k, size=n)
    # A weak model: right 60 % of the time, its probability 0.6 on its vote.
    vote = np.where(rng.random(n) < 0.6, truth, rng.integers(k, size=n))
    priors = np.full((n, k), 0.2)
    priors[np.arange(n), vote] = 0.6
    good, spammer = symmetric_confusion(0.9, k), np.full((k, k), 1 / k)
    tasks, workers, answers = [], [], []
    for i in range(n):  # one answer per item, from the good worker (0) or the spammer (1); a second on a third
        for w in ([0] if i % 2 else [1]) + ([1 - i % 2] if i % 3 == 0 else []):
            tasks.append(i)
            workers.append(w)
            answers.append(rng.choice(k, p=(good if w == 0 else spammer)[truth[i]]))
    post, confusions = fit_posteriors(tasks, workers, answers, priors, 2, default_accuracy=0.7, strength=5)
    accuracy = np.trace(confusions, axis1=1, axis2=2) / k
    assert accuracy[0] > 0.8 and accuracy[1] < 0.5
    assert post.shape == (n, k) and np.allclose(post.sum(axis=1), 1)
    assert (post.argmax(axis=1) == truth).mean() > 0.7  # the spammer's items lean on the model


def test_em_leaves_items_without_answers_at_their_prior_and_checks_its_input() -> None:
    priors = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    post, confusions = fit_posteriors([1], [0], [2], priors, 1, class_shares=False)
    assert np.allclose(post[0], priors[0]) and post[1].argmax() == 2 and post[1, 2] > 0.6
    assert confusions.shape == (1, 3, 3) and np.allclose(confusions.sum(axis=2), 1)
    with pytest.raises(InvalidInputError, match="outside"):
        fit_posteriors([2], [0], [0], priors, 1)
    with pytest.raises(InvalidInputError, match="equally long"):
        fit_posteriors([0, 1], [0], [0], priors, 1)


def test_em_learns_the_class_shares_a_balanced_model_misses() -> None:
    rng = np.random.default_rng(1)
    n, k = 1000, 3
    truth = rng.choice(k, size=n, p=[0.15, 0.7, 0.15])  # mostly the middle class
    priors = np.full((n, k), 1 / k)  # a model that knows nothing, trained balanced
    answered = np.arange(n) < 800
    good = symmetric_confusion(0.9, k)
    tasks = np.repeat(np.flatnonzero(answered), 2)  # two answers each, so skills can be told apart
    workers = (np.arange(len(tasks)) + tasks) % 4
    answers = [rng.choice(k, p=good[truth[i]]) for i in tasks]
    post, _ = fit_posteriors(tasks, workers, answers, priors, 4)
    unanswered = post[~answered]
    assert np.allclose(unanswered, unanswered[0]) and 0.55 < unanswered[0, 1] < 0.75
    flat, _ = fit_posteriors(tasks, workers, answers, priors, 4, class_shares=False)
    assert np.allclose(flat[~answered], 1 / k)

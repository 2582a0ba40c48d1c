"""The model as one more voter: priors, shrunk worker confusions, posteriors, and temperature calibration."""

from __future__ import annotations

import numpy as np
import pytest

from groundswell.active import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    model_prior,
    posterior,
    symmetric_confusion,
    worker_confusion,
)

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

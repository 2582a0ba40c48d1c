"""Temperature scaling and the expected calibration error, on probabilities whose miscalibration is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from groundswell.errors import InvalidInputError
from groundswell.ml import (
    ModelCard,
    apply_temperature,
    card_temperature,
    expected_calibration_error,
    fit_temperature,
)
from groundswell.ml.calibration import TEMPERATURE_BOUNDS


def _sample(sharpness: float, n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z), reported as softmax(sharpness * z): overconfident when sharpness > 1."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=1.5, size=(n, 3))
    true = softmax(logits, axis=1)
    labels = np.array([rng.choice(3, p=row) for row in true])
    return softmax(sharpness * logits, axis=1), labels


def test_overconfident_probabilities_get_a_temperature_above_one_and_a_lower_ece() -> None:
    proba, labels = _sample(3.0)
    temperature = fit_temperature(proba, labels)
    assert 2.4 < temperature < 3.6  # the sharpening that was applied, recovered
    calibrated = apply_temperature(proba, temperature)
    before, after = expected_calibration_error(proba, labels), expected_calibration_error(calibrated, labels)
    assert before > 0.1 and after < before / 3
    assert np.array_equal(calibrated.argmax(axis=1), proba.argmax(axis=1))  # no prediction changes class


def test_underconfident_probabilities_get_a_temperature_below_one() -> None:
    proba, labels = _sample(0.4, seed=1)
    temperature = fit_temperature(proba, labels)
    assert 0.3 < temperature < 0.5
    assert expected_calibration_error(apply_temperature(proba, temperature), labels) < expected_calibration_error(
        proba, labels
    )


def test_a_split_the_model_gets_all_right_drives_the_temperature_to_its_lower_bound() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]] * 10)
    labels = np.array([0, 1, 2] * 10)
    assert fit_temperature(proba, labels) == pytest.approx(TEMPERATURE_BOUNDS[0], rel=1e-3)


def test_apply_temperature_is_softmax_of_log_p_over_t_and_keeps_zeros() -> None:
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.8, 0.0]])
    for temperature in (0.3, 1.7, 20.0):
        out = apply_temperature(proba, temperature)
        expected = softmax(np.log(proba[0]) / temperature)
        assert np.allclose(out[0], expected, atol=1e-12, rtol=0)
        assert out[1, 2] == 0.0 and np.isclose(out[1].sum(), 1.0)
    assert np.array_equal(apply_temperature(proba, 1.0), proba)
    with pytest.raises(InvalidInputError, match="positive"):
        apply_temperature(proba, 0.0)


def test_rows_whose_true_class_has_no_probability_do_not_decide_the_temperature() -> None:
    proba, labels = _sample(3.0, n=1000, seed=2)
    widened = np.hstack([proba, np.zeros((len(proba), 1))])
    extra = np.array([[0.5, 0.3, 0.2, 0.0]] * 5)
    with_dead_rows = fit_temperature(np.vstack([widened, extra]), np.concatenate([labels, [3] * 5]))
    assert with_dead_rows == pytest.approx(fit_temperature(proba, labels), rel=1e-3)


def test_ece_by_hand() -> None:
    # Bin 9 (confidence .9): accuracy .5, gap .4; bin 6 (confidence .6): accuracy 1, gap .4 -> ECE .4.
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    assert expected_calibration_error(proba, np.array([0, 1, 1, 1])) == pytest.approx(0.4)
    assert expected_calibration_error(np.array([[1.0, 0.0]]), np.array([0])) == 0.0  # 1.0 falls in the last bin
    assert expected_calibration_error(np.zeros((0, 2)), np.zeros(0)) == 0.0
    with pytest.raises(InvalidInputError, match="one label per row"):
        expected_calibration_error(proba, np.array([0, 1]))


def test_card_temperature_defaults_to_one() -> None:
    assert card_temperature({}) == 1.0 and card_temperature({"temperature": None}) == 1.0
    assert card_temperature({"temperature": 2}) == 2.0
    assert ModelCard(model_type="tfidf-linear", labels=["a", "b"]).temperature == 1.0
    old = ModelCard.from_dict({"model_type": "tfidf-linear", "labels": ["a", "b"], "params": {"c": 1.0}})
    assert old.temperature == 1.0
    for bad in ("2", 0, -1.0, True):
        with pytest.raises(InvalidInputError, match="temperature"):
            card_temperature({"temperature": bad})

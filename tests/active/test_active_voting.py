"""Calibrating the model's probabilities: temperature scaling and the expected calibration error."""

from __future__ import annotations

import numpy as np
import pytest

from groundswell.active import apply_temperature, expected_calibration_error, fit_temperature


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

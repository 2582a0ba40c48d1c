"""Expected calibration error, and whether the calibrated confidence is closer to the truth than the raw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from groundswell.consolidate import (
    GLAD,
    MACE,
    DawidSkene,
    OneCoinDawidSkene,
    expected_calibration_error,
    reliability_table,
)
from groundswell.consolidate.simulate import simulate_crowd
from groundswell.errors import InvalidInputError


def test_ece_worked_example() -> None:
    # Bin 0.9: confidence 0.9, accuracy 0.5; bin 0.6: confidence 0.6, accuracy 0.5 → (0.4 + 0.1) / 2
    assert expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, False, True, False]) == pytest.approx(0.25)


def test_ece_is_zero_when_confidence_equals_accuracy_in_every_bin() -> None:
    confidence = [0.75] * 4 + [1.0] * 3
    correct = [True, True, True, False, True, True, True]
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.0)


def test_reliability_table_lists_only_non_empty_bins() -> None:
    table = reliability_table([0.95, 0.91, 0.55], [1, 0, 1], n_bins=10)
    assert table["count"].tolist() == [1, 2]
    assert table["accuracy"].tolist() == [1.0, 0.5]
    assert table["lower"].tolist() == pytest.approx([0.5, 0.9])


@pytest.mark.parametrize(
    ("confidence", "correct", "message"),
    [([0.5], [True, False], "1 values but correct has 2"), ([], [], "no predictions"), ([1.5], [True], "between 0")],
)
def test_ece_rejects_bad_input(confidence: list[float], correct: list[bool], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        expected_calibration_error(confidence, correct)


def _ece(model: DawidSkene | OneCoinDawidSkene, truth: pd.Series, probas: pd.DataFrame) -> float:
    labels = probas.idxmax(axis=1)
    return expected_calibration_error(probas.max(axis=1), labels == truth.loc[probas.index])


@pytest.mark.parametrize("make", [DawidSkene, OneCoinDawidSkene], ids=["ds", "ods"])
def test_gold_calibration_repairs_overconfidence_from_shared_mistakes(make: type[DawidSkene]) -> None:
    crowd = simulate_crowd(1500, 40, judgments_per_task=5, hard_share=0.25, random_state=3)
    gold = crowd.truth.sample(150, random_state=0)
    model = make(calibration="auto").fit(crowd.answers, gold=gold)
    assert model.calibration_ == "gold"
    assert model.error_correlation_ > 0.05
    raw, calibrated = _ece(model, crowd.truth, model.raw_probas_), _ece(model, crowd.truth, model.probas_)
    assert calibrated < 0.6 * raw


def test_calibration_leaves_model_conforming_crowds_alone() -> None:
    crowd = simulate_crowd(1500, 40, judgments_per_task=5, hard_share=0.0, random_state=4)
    model = OneCoinDawidSkene(calibration="gold").fit(crowd.answers, gold=crowd.truth.sample(150, random_state=0))
    assert model.error_correlation_ < 0.05


def test_heldout_calibration_needs_no_gold_and_none_keeps_the_raw_posterior() -> None:
    crowd = simulate_crowd(600, 30, judgments_per_task=5, hard_share=0.3, random_state=5)
    heldout = OneCoinDawidSkene().fit(crowd.answers)
    assert heldout.calibration_ == "heldout"
    assert 0.0 <= heldout.error_correlation_ <= 1.0
    raw = OneCoinDawidSkene(calibration="none").fit(crowd.answers)
    assert raw.error_correlation_ == 0.0
    pd.testing.assert_frame_equal(raw.probas_, raw.raw_probas_)


def test_single_judgment_tasks_leave_heldout_calibration_off() -> None:
    answers = pd.DataFrame({"task": range(100), "worker": np.arange(100) % 7, "label": np.arange(100) % 3})
    model = DawidSkene().fit(answers)
    assert model.calibration_ == "none"
    assert np.isfinite(model.probas_.to_numpy()).all()


@pytest.mark.parametrize(("model", "below", "above"), [(MACE, 0.1, 0.2), (GLAD, 0.15, 0.25)])
def test_glad_and_mace_discount_where_the_crowd_errs_together_and_stay_raw_without_calibration(
    model: type[GLAD] | type[MACE], below: float, above: float
) -> None:
    # Hard tasks draw most workers to the same wrong label: raw posteriors pile up near 1 and are often wrong.
    # 200 gold tasks measure by how much (answers alone cannot see a mistake the crowd shares).
    crowd = simulate_crowd(1500, 40, judgments_per_task=5, hard_share=0.4, fooled=0.6, random_state=2)
    gold = crowd.truth.iloc[:200]
    fitted = model().fit(crowd.answers, gold)
    raw = model(calibration="none").fit(crowd.answers, gold)
    pd.testing.assert_frame_equal(raw.probas_, raw.raw_probas_)
    pd.testing.assert_frame_equal(fitted.raw_probas_, raw.raw_probas_)
    assert fitted.calibration_ == "gold" and fitted.error_correlation_ > 0.3
    truth = crowd.truth.reindex(fitted.labels_.index)

    def ece(aggregator: GLAD | MACE) -> float:
        return expected_calibration_error(aggregator.confidence_, aggregator.labels_ == truth)

    assert ece(fitted) < below < above < ece(raw)
    assert (fitted.labels_ == truth).mean() >= (raw.labels_ == truth).mean() - 0.015

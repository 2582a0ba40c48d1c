"""The pure auto-label round on a toy corpus whose classes are easy to tell apart, and its settings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundswell.active import (
    AutoLabelSettings,
    accuracy_lower_bound,
    apply_temperature,
    auto_label_round,
    crossfit,
    featurize,
    fold_assignment,
    stable_uniform,
    validation_share,
)
from groundswell.active.crossfit import out_of_fold
from groundswell.errors import InvalidInputError

POSITIVE = ["love it", "great day", "so happy", "wonderful news", "best ever", "really good", "amazing work"]
NEGATIVE = ["hate it", "awful day", "so sad", "terrible news", "worst ever", "really bad", "horrible work"]


def _corpus(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n) * 2  # classes 0 (negative) and 2 (positive) of three
    words = [NEGATIVE, [], POSITIVE]
    texts = [f"{words[c][rng.integers(7)]} {words[c][rng.integers(7)]} #{i % 50}" for i, c in enumerate(y)]
    return texts, y


SETTINGS = AutoLabelSettings(enabled=True, accuracy_target=0.9, seed_size=200, batch_size=50, min_items=500)


def test_a_small_job_is_not_eligible() -> None:
    texts, _ = _corpus(300)
    result = auto_label_round(texts, np.full(300, -1), 3, SETTINGS)
    assert result.stage == "ineligible" and len(result.machine_items) == 0


def test_before_the_seed_is_labeled_the_order_is_random_and_stable() -> None:
    texts, y = _corpus(600)
    human = np.full(600, -1)
    human[:100] = y[:100]
    first = auto_label_round(texts, human, 3, SETTINGS)
    again = auto_label_round(texts, human, 3, SETTINGS, random_state=5)
    assert first.stage == "seed" and first.threshold is None and len(first.machine_items) == 0
    np.testing.assert_array_equal(first.priority, again.priority)
    top = np.argsort(-first.priority)[:200]
    assert 40 < np.median(top) / 600 * 100 < 60  # the seed sample is spread over the pool, not its head


def test_a_round_machine_labels_confident_items_and_ranks_the_rest() -> None:
    texts, y = _corpus(1000)
    human = np.full(1000, -1)
    human[:400] = y[:400]
    split = AutoLabelSettings(**{**SETTINGS.__dict__, "certification": "split"})
    result = auto_label_round(texts, human, 3, split)
    assert result.stage == "model" and result.threshold is not None and result.certification == "split"
    assert result.threshold.lower_bound >= 0.9 and result.threshold.support >= SETTINGS.min_support
    assert result.validation_size + result.train_size == 400
    assert abs(result.validation_size / 400 - validation_share(1000)) < 0.06
    np.testing.assert_array_equal(result.is_validation, stable_uniform(np.arange(1000)) < validation_share(1000))
    assert result.fold is None
    machine = result.machine_items
    assert len(machine) > 300 and (machine >= 400).all()
    assert (result.machine_labels == y[machine]).mean() >= 0.9
    rest = np.setdiff1d(np.arange(400, 1000), machine)
    assert (result.priority[rest] >= 0).all()
    assert ((result.priority[rest] > 1).sum()) == min(SETTINGS.batch_size, len(rest))


def test_an_unreachable_target_labels_nothing_but_still_ranks() -> None:
    texts, _ = _corpus(800)
    rng = np.random.default_rng(1)
    human = np.full(800, -1)
    human[:400] = rng.integers(0, 3, 400)  # labels unrelated to the text
    strict = AutoLabelSettings(**{**SETTINGS.__dict__, "accuracy_target": 0.95, "query_strategy": "diverse"})
    result = auto_label_round(texts, human, 3, strict, features=featurize(texts))
    assert result.stage == "model" and result.threshold is None and len(result.machine_items) == 0
    assert (result.priority[400:] > 1).sum() == strict.batch_size


def test_per_class_thresholds_and_the_point_rule() -> None:
    texts, y = _corpus(1000)
    human = np.full(1000, -1)
    human[:400] = y[:400]
    for options in ({"per_class_thresholds": True}, {"threshold_rule": "point"}):
        settings = AutoLabelSettings(**{**SETTINGS.__dict__, **options})
        result = auto_label_round(texts, human, 3, settings)
        assert result.threshold is not None and len(result.machine_items) > 0
        assert (result.machine_labels == y[result.machine_items]).mean() >= 0.9


def test_stable_uniform_is_uniform_and_repeatable() -> None:
    u = stable_uniform(np.arange(20_000))
    np.testing.assert_array_equal(u, stable_uniform(np.arange(20_000)))
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01
    assert not np.array_equal(u, stable_uniform(np.arange(20_000), salt=1))


def test_settings_round_trip_and_refuse_bad_values() -> None:
    settings = AutoLabelSettings.from_mapping({"auto_label": True, "accuracy_target": 0.9, "budget": 1000})
    assert settings.enabled and settings.accuracy_target == 0.9 and settings.budget == 1000
    assert AutoLabelSettings.from_mapping(settings.to_mapping()) == settings
    assert AutoLabelSettings.from_mapping({"consolidation_method": "ds"}) == AutoLabelSettings()
    for bad, key in (
        ({"accuracy_target": 1.2}, "accuracy_target"),
        ({"seed_size": 0}, "seed_size"),
        ({"auto_label": "yes"}, "auto_label"),
        ({"query_strategy": "oracle"}, "query_strategy"),
        ({"budget": True}, "budget"),
        ({"certification": "bootstrap"}, "certification"),
        ({"folds": 1}, "folds"),
        ({"folds": 2.5}, "folds"),
    ):
        with pytest.raises(InvalidInputError, match=key):
            AutoLabelSettings.from_mapping(bad)
    assert validation_share(5000) == 0.2 and validation_share(5001) == 0.1
    assert (AutoLabelSettings().certification, AutoLabelSettings().folds) == ("cross-fit", 5)
    split = AutoLabelSettings.from_mapping({"certification": "split", "folds": 3})
    assert (split.certification, split.folds) == ("split", 3)


def test_bad_inputs_are_refused() -> None:
    texts, _ = _corpus(600)
    with pytest.raises(InvalidInputError, match="human_labels"):
        auto_label_round(texts, np.full(599, -1), 3, SETTINGS)
    with pytest.raises(InvalidInputError, match="human_labels"):
        auto_label_round(texts, np.full(600, 3), 3, SETTINGS)


# --- cross-fitting ------------------------------------------------------------------------------------------


def test_a_cross_fitted_round_checks_every_human_label_and_labels_with_the_final_model() -> None:
    texts, y = _corpus(1000)
    human = np.full(1000, -1)
    human[:400] = y[:400]
    result = auto_label_round(texts, human, 3, SETTINGS)
    assert result.stage == "model" and result.certification == "cross-fit" and result.threshold is not None
    assert result.threshold.lower_bound >= 0.9
    assert result.train_size == result.validation_size == 400  # all of them out of fold, then all in the final
    assert not np.asarray(result.is_validation).any()  # nothing held out for good
    assert result.fold is not None
    np.testing.assert_array_equal(result.fold, fold_assignment(np.arange(1000), SETTINGS.folds))
    machine = result.machine_items
    assert len(machine) > 300 and (machine >= 400).all()
    assert (result.machine_labels == y[machine]).mean() >= 0.9
    assert result.coverage == pytest.approx(len(machine) / 600)
    assert result.estimator is not None  # featurised here, so the pipeline on raw texts can be saved


def test_folds_are_stable_between_rounds_and_balanced() -> None:
    keys = np.arange(10_000, 30_000)
    folds = fold_assignment(keys, 5)
    np.testing.assert_array_equal(folds, fold_assignment(keys, 5))
    np.testing.assert_array_equal(folds[::7], fold_assignment(keys[::7], 5))  # other items do not matter
    assert set(np.unique(folds)) == set(range(5))
    assert np.abs(np.bincount(folds) / len(keys) - 0.2).max() < 0.01
    split = stable_uniform(keys) < 0.2  # independent of the validation split's hash
    assert 0.15 < (folds[split] == 0).mean() < 0.25
    texts, y = _corpus(800)
    first, later = np.full(800, -1), np.full(800, -1)
    first[:300], later[:500] = y[:300], y[:500]  # the next round has more labels: no item changes fold
    a = auto_label_round(texts, first, 3, SETTINGS, keys=np.arange(800) + 77, features=featurize(texts))
    b = auto_label_round(texts, later, 3, SETTINGS, keys=np.arange(800) + 77, features=featurize(texts))
    assert a.fold is not None and b.fold is not None
    np.testing.assert_array_equal(a.fold, b.fold)
    np.testing.assert_array_equal(a.fold, fold_assignment(np.arange(800) + 77, 5))


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.lists(st.integers(0, 10**9), min_size=1, max_size=120, unique=True), st.data())
def test_every_labeled_item_gets_exactly_one_out_of_fold_prediction(
    folds: int, keys: list[int], data: st.DataObject
) -> None:
    n = len(keys)
    labeled = np.flatnonzero(np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n))))
    fold = fold_assignment(keys, folds)
    predicted = np.zeros(n, dtype=int)
    fits: list[tuple[set[int], set[int]]] = []

    def fit_predict(train: np.ndarray, held: np.ndarray) -> np.ndarray:
        fits.append((set(train.tolist()), set(held.tolist())))
        predicted[held] += 1
        return np.column_stack([held.astype(float), fold[held].astype(float)])  # row i says who it is

    rows = out_of_fold(labeled, fold, folds, fit_predict)
    np.testing.assert_array_equal(predicted[labeled], 1)
    assert predicted.sum() == len(labeled)  # unlabeled items are never predicted out of fold
    for train, held in fits:
        assert not train & held and train | held == set(labeled.tolist())
        assert len({int(fold[i]) for i in held}) == 1  # one fold held out at a time
    assert len(fits) == len(set(fold[labeled].tolist()))  # one model per fold that holds a labeled item
    if len(labeled):
        np.testing.assert_array_equal(rows[:, 0], labeled)  # aligned with ``labeled``
        np.testing.assert_array_equal(rows[:, 1], fold[labeled])


def _row(cls: int, conf: float) -> list[float]:
    row = [(1 - conf) / 2] * 3
    row[cls] = conf
    return row


class _Recorded:
    """A fake classifier that remembers which positions it was trained on (the position is the feature)."""

    def __init__(self, train: np.ndarray) -> None:
        self.train = set(train.tolist())


def _constructed_round(monkeypatch: pytest.MonkeyPatch, settings_: AutoLabelSettings, sure: float | None) -> Any:
    """A round whose fold models predict fixed out-of-fold rows, so the threshold can be worked out by hand.

    300 labeled items in three tiers of out-of-fold confidence: 100 at 0.95 (all right), 100 at 0.80 (89 right),
    100 at 0.60 (50 right). A model predicting an item it was trained on answers with the human label at 0.999
    (so a leak would show). The final model sees 300 open items at 0.99, 0.9, 0.81, 0.79, 0.7 and 0.5.
    """
    n = 600
    human = np.full(n, -1)
    human[:300] = np.arange(300) % 3
    right = np.ones(300, dtype=bool)
    right[100:111] = False  # tier 0.80: 89 of 100 right
    right[200:250] = False  # tier 0.60: 50 of 100 right
    pred = np.where(right, human[:300], (human[:300] + 1) % 3)
    conf = np.repeat([0.95, 0.80, 0.60], 100)
    oof = {i: _row(int(pred[i]), float(conf[i])) for i in range(300)}
    open_conf = np.tile([0.99, 0.9, 0.81, 0.79, 0.7, 0.5], 50)
    final = {300 + j: _row(j % 3, float(c)) for j, c in enumerate(open_conf)}
    predicted_out_of_fold = np.zeros(n, dtype=int)

    def fake_fit(features: Any, y: Any, config: Any, random_state: int) -> _Recorded:
        assert (y == human[np.asarray(features)[:, 0].astype(int)]).all()
        return _Recorded(np.asarray(features)[:, 0].astype(int))

    def fake_proba(model: _Recorded, features: Any, n_classes: int) -> np.ndarray:
        rows = []
        for p in np.asarray(features)[:, 0].astype(int).tolist():
            if p in model.train:
                rows.append(_row(int(human[p]), 0.999))
            elif p < 300:
                predicted_out_of_fold[p] += 1
                rows.append(oof[p])
            else:
                rows.append(final[p])
        return np.array(rows)

    monkeypatch.setattr(crossfit, "fit_classifier", fake_fit)
    monkeypatch.setattr(crossfit, "class_proba", fake_proba)
    texts = [f"t{i}" for i in range(n)]
    label_confidence = None if sure is None else np.full(n, sure)
    features = np.arange(n, dtype=float).reshape(-1, 1)
    result = auto_label_round(
        texts, human, 3, settings_, features=features, label_confidence=label_confidence, keys=np.arange(n) * 31
    )
    np.testing.assert_array_equal(predicted_out_of_fold[:300], 1)  # each labeled item once, by a model blind to it
    return result, oof, open_conf


def test_the_cross_fitted_threshold_is_the_one_worked_out_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    strict = AutoLabelSettings(**{**SETTINGS.__dict__, "accuracy_target": 0.9, "min_support": 10})
    result, oof, open_conf = _constructed_round(monkeypatch, strict, None)
    # τ at tier 0.95: 100/100, bound 0.970; at 0.80: 189/200, bound 0.9106 ≥ 0.9; at 0.60: 239/300, bound 0.755.
    choice = result.threshold
    assert choice is not None and choice.support == 200 and choice.accuracy == pytest.approx(189 / 200)
    assert choice.lower_bound == pytest.approx(float(accuracy_lower_bound(189, 200)))
    tier = apply_temperature(np.array([oof[i] for i in range(100, 200)]), result.temperature)
    assert choice.threshold == pytest.approx(tier.max(axis=1).min(), rel=1e-12)
    assert result.validation_size == result.train_size == 300
    assert result.model_accuracy == pytest.approx(239 / 300)
    expected = 300 + np.flatnonzero(open_conf >= 0.8)  # the final model's items above the same cut
    np.testing.assert_array_equal(np.sort(result.machine_items), expected)
    assert result.coverage == pytest.approx(150 / 300)
    unreachable = AutoLabelSettings(**{**strict.__dict__, "accuracy_target": 0.975})  # even 100/100 is 0.9705
    none, _, _ = _constructed_round(monkeypatch, unreachable, None)
    assert none.threshold is None and len(none.machine_items) == 0 and none.coverage == 0.0


def test_soft_hits_lower_the_accuracy_as_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    strict = AutoLabelSettings(**{**SETTINGS.__dict__, "accuracy_target": 0.9, "min_support": 10})
    doubtful, _, _ = _constructed_round(monkeypatch, strict, 0.9)
    assert doubtful.threshold is None  # tier 0.95 is now worth 90 of 100: bound 0.836 < 0.9
    lenient = AutoLabelSettings(**{**strict.__dict__, "accuracy_target": 0.8})
    result, _, _ = _constructed_round(monkeypatch, lenient, 0.9)
    # τ at 0.80: 189 agreements · 0.9 + 11 disagreements · (1 − 0.9) / 2 = 170.65 expected right of 200.
    choice = result.threshold
    assert choice is not None and choice.support == 200
    assert choice.accuracy == pytest.approx(170.65 / 200)
    assert choice.lower_bound == pytest.approx(float(accuracy_lower_bound(171, 200)))  # the rounded sum
    assert result.model_accuracy == pytest.approx(239 / 300)  # plain agreement is reported unchanged


def test_label_confidence_is_checked() -> None:
    texts, y = _corpus(600)
    human = np.full(600, -1)
    human[:300] = y[:300]
    for bad in (np.full(599, 1.0), np.full(600, 1.5), np.full(600, np.nan)):
        with pytest.raises(InvalidInputError, match="label_confidence"):
            auto_label_round(texts, human, 3, SETTINGS, label_confidence=bad)


def test_too_few_labels_per_fold_stay_in_the_seed_stage() -> None:
    texts, y = _corpus(600)
    human = np.full(600, -1)
    human[:24] = y[:24]  # every fold's training set would hold under 20 labels
    few = AutoLabelSettings(**{**SETTINGS.__dict__, "seed_size": 10})
    result = auto_label_round(texts, human, 3, few)
    assert result.stage == "seed" and result.model_accuracy is None
    human[:100] = y[:100]
    assert auto_label_round(texts, human, 3, few).stage == "model"

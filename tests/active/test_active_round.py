"""The pure auto-label round on a toy corpus whose classes are easy to tell apart, and its settings."""

from __future__ import annotations

import numpy as np
import pytest

from groundswell.active import AutoLabelSettings, auto_label_round, featurize, stable_uniform, validation_share
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
    result = auto_label_round(texts, human, 3, SETTINGS)
    assert result.stage == "model" and result.threshold is not None
    assert result.threshold.lower_bound >= 0.9 and result.threshold.support >= SETTINGS.min_support
    assert result.validation_size + result.train_size == 400
    assert abs(result.validation_size / 400 - validation_share(1000)) < 0.06
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
    ):
        with pytest.raises(InvalidInputError, match=key):
            AutoLabelSettings.from_mapping(bad)
    assert validation_share(5000) == 0.2 and validation_share(5001) == 0.1


def test_bad_inputs_are_refused() -> None:
    texts, _ = _corpus(600)
    with pytest.raises(InvalidInputError, match="human_labels"):
        auto_label_round(texts, np.full(599, -1), 3, SETTINGS)
    with pytest.raises(InvalidInputError, match="human_labels"):
        auto_label_round(texts, np.full(600, 3), 3, SETTINGS)

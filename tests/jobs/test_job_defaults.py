"""What a job request means once its defaults are filled in: the same rule for the CLI, the API and the SDK."""

from __future__ import annotations

import pytest

from groundswell.errors import InvalidInputError
from groundswell.jobs.job_defaults import resolve_job_request


def test_a_target_alone_starts_with_one_answer_and_turns_on_the_loop() -> None:
    per_item, settings = resolve_job_request(None, {}, accuracy_target=0.88)
    assert per_item == 1
    assert settings == {
        "consolidation_method": "ds",
        "dynamic_redundancy": True,
        "redundancy_rule": "target",
        "auto_label": True,
        "accuracy_target": 0.88,
        "model_vote": True,
        "query_strategy": "least-confidence",
    }


def test_explicit_values_win_over_the_targets_defaults() -> None:
    per_item, settings = resolve_job_request(
        2, {"redundancy_rule": "posterior", "model_vote": False, "budget": 900}, accuracy_target=0.9
    )
    assert per_item == 2
    assert settings["redundancy_rule"] == "posterior" and settings["model_vote"] is False
    assert settings["budget"] == 900


def test_ground_truths_preset_and_the_plain_default() -> None:
    per_item, settings = resolve_job_request(None, None, preset="ground-truth")
    assert per_item == 3 and settings["threshold_rule"] == "point" and settings["accuracy_target"] == 0.95
    per_item, settings = resolve_job_request(None, None, preset="ground-truth", accuracy_target=0.9)
    assert settings["accuracy_target"] == 0.9 and "dynamic_redundancy" not in settings
    assert resolve_job_request(None, None) == (3, {})


def test_the_posterior_rule_stores_the_models_vote_unless_told_not_to() -> None:
    _, settings = resolve_job_request(
        1, {"dynamic_redundancy": True, "redundancy_rule": "posterior", "auto_label": True}
    )
    assert settings["model_vote"] is True
    _, settings = resolve_job_request(1, {"dynamic_redundancy": True, "redundancy_rule": "vote", "auto_label": True})
    assert "model_vote" not in settings


def test_contradictions_are_refused_by_name() -> None:
    with pytest.raises(InvalidInputError, match="preset"):
        resolve_job_request(None, None, preset="mturk")
    with pytest.raises(InvalidInputError, match="given twice"):
        resolve_job_request(None, {"accuracy_target": 0.8}, accuracy_target=0.9)
    with pytest.raises(InvalidInputError, match="needs an accuracy target"):
        resolve_job_request(1, {"dynamic_redundancy": True, "redundancy_rule": "target"})
    with pytest.raises(InvalidInputError, match="number"):
        resolve_job_request(None, None, accuracy_target=True)  # type: ignore[arg-type]

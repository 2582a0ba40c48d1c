"""The contract every aggregator keeps: shapes, index, probabilities, label set, errors on bad input."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from groundswell.consolidate import BaseAggregator, SimulatedCrowd
from groundswell.errors import InvalidInputError

Make = Callable[..., BaseAggregator]
LABELS = ["positive", "negative", "neutral"]


def test_fit_returns_self_and_sets_learned_attributes(make: Make, toy_answers: pd.DataFrame) -> None:
    model = make(labels=LABELS)
    assert model.fit(toy_answers) is model
    for name in ("labels_", "probas_", "confidence_", "skills_"):
        assert hasattr(model, name)


def test_outputs_are_indexed_by_task_with_the_jobs_label_order(make: Make, toy_answers: pd.DataFrame) -> None:
    model = make(labels=LABELS).fit(toy_answers)
    tasks = ["t1", "t2", "t3", "t4", "t5"]
    assert list(model.labels_.index) == tasks
    assert model.labels_.index.name == "task"
    assert list(model.probas_.index) == tasks
    assert list(model.probas_.columns) == LABELS
    assert list(model.confidence_.index) == tasks
    assert set(model.labels_) <= set(LABELS)
    assert set(model.skills_.index) == {"w1", "w2", "w3", "w4"}


def test_probabilities_are_finite_rows_sum_to_one_and_confidence_matches(make: Make, crowd: SimulatedCrowd) -> None:
    model = make(labels=LABELS).fit(crowd.answers)
    probas = model.probas_.to_numpy()
    assert np.isfinite(probas).all()
    assert (probas >= 0).all() and (probas <= 1).all()
    np.testing.assert_allclose(probas.sum(axis=1), 1.0, atol=1e-9)
    picked = model.probas_.to_numpy()[np.arange(len(probas)), model.probas_.columns.get_indexer(model.labels_)]
    np.testing.assert_allclose(model.confidence_.to_numpy(), picked)
    np.testing.assert_allclose(model.confidence_.to_numpy(), probas.max(axis=1))
    assert model.skills_.between(0, 1).all()


def test_fit_predict_and_fit_predict_proba_match_fit(make: Make, toy_answers: pd.DataFrame) -> None:
    fitted = make(labels=LABELS).fit(toy_answers)
    pd.testing.assert_series_equal(make(labels=LABELS).fit_predict(toy_answers), fitted.labels_)
    pd.testing.assert_frame_equal(make(labels=LABELS).fit_predict_proba(toy_answers), fitted.probas_)


def test_a_label_nobody_used_still_gets_a_column(make: Make, toy_answers: pd.DataFrame) -> None:
    labels = ["positive", "negative", "neutral", "mixed"]
    model = make(labels=labels).fit(toy_answers)
    assert list(model.probas_.columns) == labels
    assert "mixed" not in set(model.labels_)


def test_without_labels_the_sorted_labels_found_are_used(make: Make, toy_answers: pd.DataFrame) -> None:
    model = make().fit(toy_answers)
    assert list(model.probas_.columns) == ["negative", "neutral", "positive"]


def test_same_seed_same_result(make: Make, crowd: SimulatedCrowd) -> None:
    first = make(labels=LABELS, random_state=3).fit(crowd.answers)
    second = make(labels=LABELS, random_state=3).fit(crowd.answers)
    pd.testing.assert_series_equal(first.labels_, second.labels_)
    pd.testing.assert_frame_equal(first.probas_, second.probas_)


def test_integer_ids_and_labels_work(make: Make) -> None:
    answers = pd.DataFrame({"task": [10, 10, 10, 20, 20], "worker": [1, 2, 3, 1, 2], "label": [0, 0, 1, 1, 1]})
    model = make(labels=[0, 1, 2]).fit(answers)
    assert model.labels_.to_dict() == {10: 0, 20: 1}
    assert list(model.probas_.columns) == [0, 1, 2]


def test_a_mapping_of_arrays_is_accepted(make: Make, toy_answers: pd.DataFrame) -> None:
    arrays = {name: toy_answers[name].to_numpy() for name in ("task", "worker", "label")}
    pd.testing.assert_series_equal(make().fit(arrays).labels_, make().fit(toy_answers).labels_)


def test_gold_tasks_never_appear_in_outputs(make: Make, toy_answers: pd.DataFrame) -> None:
    gold = pd.Series({"t1": "positive", "t2": "negative", "unjudged": "neutral"})
    model = make(labels=LABELS).fit(toy_answers, gold=gold)
    for output in (model.labels_, model.probas_, model.confidence_):
        assert not set(output.index) & set(gold.index)
    assert list(model.labels_.index) == ["t3", "t4", "t5"]


def test_get_params_and_repr_show_the_constructor_arguments(make: Make) -> None:
    model = make(labels=LABELS, random_state=5)
    params = model.get_params()
    assert params["labels"] == LABELS
    assert params["random_state"] == 5
    assert type(model).__name__ in repr(model)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (pd.DataFrame({"task": ["t"], "worker": ["w"]}), "lack column(s) label"),
        (pd.DataFrame({"task": [], "worker": [], "label": []}), "no judgments"),
        (pd.DataFrame({"task": ["t", "t"], "worker": ["w", "v"], "label": ["positive", "postive"]}), "'postive'"),
        (pd.DataFrame({"task": ["t", "t"], "worker": ["w", "w"], "label": ["positive"] * 2}), "more than once"),
        (pd.DataFrame({"task": ["t", None], "worker": ["w", "v"], "label": ["positive"] * 2}), "empty task"),
        (pd.DataFrame({"task": ["t"], "worker": ["  "], "label": ["positive"]}), "empty worker"),
    ],
    ids=["missing-column", "empty", "label-outside", "duplicate", "null-task", "blank-worker"],
)
def test_bad_input_raises_invalid_input_error_naming_the_problem(
    make: Make, answers: pd.DataFrame, message: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        make(labels=LABELS).fit(answers)
    assert message in str(info.value)


def test_gold_with_a_label_outside_the_jobs_labels_is_rejected(make: Make, toy_answers: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match="gold task 't1' has label 'great'"):
        make(labels=LABELS).fit(toy_answers, gold={"t1": "great"})


def test_input_that_is_not_a_table_is_rejected(make: Make) -> None:
    with pytest.raises(InvalidInputError, match="DataFrame or a mapping"):
        make().fit([("t", "w", "positive")])  # type: ignore[arg-type]

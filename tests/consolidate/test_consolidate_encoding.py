"""Integer coding of judgments: the fast paths (integer ids, task-grouped rows) give what the general ones give."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from groundswell.consolidate import DawidSkene, OneCoinDawidSkene
from groundswell.consolidate._encoding import _codes, encode_answers
from groundswell.errors import InvalidInputError


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(-300, 300), min_size=1, max_size=40),
    dtype=st.sampled_from(["int8", "int16", "int64", "uint8"]),
)
def test_integer_ids_are_coded_as_a_sorted_factorize_codes_them(values: list[int], dtype: str) -> None:
    info = np.iinfo(dtype)
    series = pd.Series(np.clip(values, info.min, info.max).astype(dtype))
    codes, uniques = _codes(series, None)
    expected_codes, expected_uniques = pd.factorize(series, sort=True)
    np.testing.assert_array_equal(codes, expected_codes)
    pd.testing.assert_index_equal(uniques, pd.Index(expected_uniques))


def test_integer_ids_spread_far_apart_take_the_general_path() -> None:
    series = pd.Series([10**15, -(10**15), 7, 10**15])
    codes, uniques = _codes(series, None)
    np.testing.assert_array_equal(codes, [2, 0, 1, 2])
    assert uniques.tolist() == [-(10**15), 7, 10**15]


@pytest.mark.parametrize("values", [["b", "a", "c", "a"], ["t10", "t2", "t10"], [3, "x", 1, "x"]])
def test_codes_reused_from_validation_match_a_sorted_factorize(values: list[object]) -> None:
    series = pd.Series(values, dtype=object)
    codes, distinct = pd.factorize(series)
    got_codes, got_uniques = _codes(series, (np.asarray(codes, dtype=np.intp), pd.Index(distinct)))
    try:
        expected_codes, expected_uniques = pd.factorize(series, sort=True)
    except TypeError:
        expected_codes, expected_uniques = pd.factorize(series)
    np.testing.assert_array_equal(got_codes, expected_codes)
    assert got_uniques.tolist() == list(expected_uniques)


def _crowd(seed: int, n_tasks: int = 300, n_workers: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n_tasks)
    rows = []
    for task in range(n_tasks):
        for worker in rng.choice(n_workers, size=4, replace=False):
            label = truth[task] if rng.random() < 0.75 else rng.integers(0, 3)
            rows.append((task * 7, int(worker) + 100, "abc"[label]))
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def test_incidence_of_task_grouped_rows_equals_the_general_construction() -> None:
    enc = encode_answers(_crowd(1))
    assert np.all(np.diff(enc.task) >= 0)
    general = sp.csr_matrix(
        (np.ones(enc.n_answers), (enc.task, enc.worker_label)), shape=(enc.n_tasks, enc.n_workers * enc.n_labels)
    )
    np.testing.assert_array_equal(enc.incidence.toarray(), general.toarray())
    np.testing.assert_array_equal(enc.incidence_t.toarray(), general.toarray().T)


@pytest.mark.parametrize("make", [DawidSkene, OneCoinDawidSkene, lambda: DawidSkene(smoothing="none")])
def test_row_order_does_not_change_the_fit(make: type[DawidSkene]) -> None:
    grouped = _crowd(2)
    shuffled = grouped.sample(frac=1.0, random_state=3)
    gold = {0: "a", 7: "b", 14: "c"}
    before, after = make().fit(grouped, gold), make().fit(shuffled, gold)
    np.testing.assert_allclose(after.probas_.loc[before.probas_.index], before.probas_, atol=1e-9)
    np.testing.assert_allclose(after.raw_probas_.loc[before.probas_.index], before.raw_probas_, atol=1e-9)
    assert after.n_iter_ == before.n_iter_


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_repeated_judgment_is_refused_whether_or_not_rows_are_grouped_by_task(shuffle: bool) -> None:
    answers = _crowd(4)
    repeat = answers.iloc[[17]]
    answers = pd.concat([answers.iloc[:18], repeat, answers.iloc[18:]], ignore_index=True)
    if shuffle:
        answers = answers.sample(frac=1.0, random_state=5)
    worker, task = repeat["worker"].iloc[0], repeat["task"].iloc[0]
    message = re.escape(f"worker {worker!r} judged task {task!r} more than once")
    with pytest.raises(InvalidInputError, match=message):
        DawidSkene().fit(answers)

"""Agreement metrics against published worked examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundswell.consolidate import (
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_agreement,
    per_label_agreement,
    percent_agreement,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: nominal data, four observers,
# twelve units, missing values ("."). Published nominal alpha: 0.743.
KRIPPENDORFF_2011 = """\
A 1 2 3 3 2 1 4 1 2 . . .
B 1 2 3 3 2 2 4 1 2 5 . 3
C . 3 3 3 2 3 4 2 2 5 1 .
D 1 2 3 3 2 4 4 1 2 5 1 ."""

# Fleiss' kappa worked example (Wikipedia, "Fleiss' kappa"): 10 subjects, 14 raters each, 5 categories;
# each row counts the raters per category. Published: P̄ = 0.378, P_e = 0.213, kappa = 0.210.
FLEISS_EXAMPLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def _krippendorff_answers() -> pd.DataFrame:
    rows = []
    for line in KRIPPENDORFF_2011.splitlines():
        observer, *values = line.split()
        rows += [(unit, observer, int(v)) for unit, v in enumerate(values, start=1) if v != "."]
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def _from_counts(table: list[list[int]]) -> pd.DataFrame:
    rows = []
    for subject, counts in enumerate(table):
        raters = iter(range(sum(counts)))
        rows += [(subject, next(raters), category) for category, n in enumerate(counts, 1) for _ in range(n)]
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def test_krippendorff_alpha_matches_krippendorffs_worked_nominal_example() -> None:
    assert krippendorff_alpha(_krippendorff_answers()) == pytest.approx(0.743, abs=5e-4)


def test_fleiss_kappa_matches_the_worked_example() -> None:
    answers = _from_counts(FLEISS_EXAMPLE)
    assert fleiss_kappa(answers) == pytest.approx(0.210, abs=5e-4)
    assert percent_agreement(answers) == pytest.approx(0.378, abs=5e-4)  # P̄ with 14 raters everywhere


def test_per_label_shares_match_the_worked_example() -> None:
    table = per_label_agreement(_from_counts(FLEISS_EXAMPLE))
    np.testing.assert_allclose(table["share"].to_numpy(), [0.143, 0.200, 0.279, 0.150, 0.229], atol=5e-4)
    assert list(table.columns) == ["share", "specific_agreement", "fleiss_kappa", "krippendorff_alpha"]
    # Subject 1 is unanimous on category 5, the best-agreed category.
    assert table["specific_agreement"].idxmax() == 5


def test_per_label_specific_agreement_by_hand() -> None:
    answers = pd.DataFrame(
        {"task": [1, 1, 1, 2, 2], "worker": ["a", "b", "c", "a", "b"], "label": ["x", "x", "y", "y", "y"]}
    )
    table = per_label_agreement(answers, labels=["x", "y", "z"])
    # x: task 1 has 2 x's: 2·1 agreeing ordered pairs out of 2·(3−1) = 4 → 0.5
    # y: task 1: 0 of 1·2; task 2: 2·1 of 2·1 → 2/4 = 0.5
    assert table.loc["x", "specific_agreement"] == pytest.approx(0.5)
    assert table.loc["y", "specific_agreement"] == pytest.approx(0.5)
    assert math.isnan(table.loc["z", "specific_agreement"])


def test_pairwise_agreement_counts_shared_tasks() -> None:
    pairs = pairwise_agreement(_krippendorff_answers()).set_index(["worker_a", "worker_b"])
    # A and B both rated units 1–9 and differ only on unit 6.
    assert pairs.loc[("A", "B")].to_dict() == {"n_tasks": 9, "n_agree": 8, "agreement": pytest.approx(8 / 9)}
    assert len(pairs) == 6


def test_perfect_agreement_is_one_and_undefined_cases_are_nan() -> None:
    perfect = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b", "a", "b"], "label": ["x", "x", "y", "y"]})
    assert krippendorff_alpha(perfect) == pytest.approx(1.0)
    assert fleiss_kappa(perfect) == pytest.approx(1.0)
    assert percent_agreement(perfect) == 1.0
    one_label = perfect.assign(label="x")
    assert math.isnan(krippendorff_alpha(one_label))
    single = pd.DataFrame({"task": [1, 2], "worker": ["a", "a"], "label": ["x", "y"]})
    assert math.isnan(krippendorff_alpha(single))
    assert math.isnan(fleiss_kappa(single))
    assert math.isnan(percent_agreement(single))
    assert pairwise_agreement(single).empty


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_agreement_does_not_depend_on_worker_or_task_names(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    answers = pd.DataFrame(
        {
            "task": rng.integers(0, 10, n),
            "worker": rng.integers(0, 5, n),
            "label": rng.choice(["x", "y", "z"], n),
        }
    ).drop_duplicates(["task", "worker"])
    renamed = answers.assign(task=answers["task"].map(lambda t: f"task-{9 - t}"), worker=answers["worker"] * 7)
    for metric in (krippendorff_alpha, fleiss_kappa, percent_agreement):
        before, after = metric(answers), metric(renamed)
        assert (math.isnan(before) and math.isnan(after)) or before == pytest.approx(after)

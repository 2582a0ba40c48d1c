"""Threshold selection on constructed validation sets with known answers, plus properties of the bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundswell.active import accuracy_lower_bound, gold_gate, select_class_thresholds, select_threshold, soft_hits
from groundswell.errors import InvalidInputError


def test_clopper_pearson_all_correct_has_its_closed_form() -> None:
    # With k = n the exact one-sided bound is alpha ** (1 / n).
    for n in (1, 10, 59, 200):
        assert accuracy_lower_bound(n, n)[()] == pytest.approx(0.05 ** (1 / n), rel=1e-9)


def test_59_right_answers_vouch_for_95_percent_and_58_do_not() -> None:
    # 0.05 ** (1/59) = 0.9505 ≥ 0.95 > 0.05 ** (1/58) = 0.9497: the smallest all-correct support for 95 %.
    choice = select_threshold([0.9] * 59 + [0.4] * 5, [True] * 59 + [False] * 5, target=0.95)
    assert choice is not None
    assert (choice.threshold, choice.support, choice.accuracy) == (0.9, 59, 1.0)
    assert choice.lower_bound == pytest.approx(0.05 ** (1 / 59))
    assert select_threshold([0.9] * 58 + [0.4] * 5, [True] * 58 + [False] * 5, target=0.95) is None


def test_the_lowest_qualifying_threshold_wins() -> None:
    conf = [0.99, 0.98, 0.97, 0.96, 0.95, 0.60, 0.50]
    right = [True, True, True, True, True, True, False]
    # point rule, target 0.8: τ = 0.6 → 6/6; τ = 0.5 → 6/7 = 0.857 ≥ 0.8, so 0.5 is the lowest.
    choice = select_threshold(conf, right, target=0.8, rule="point", min_support=1)
    assert choice is not None and choice.threshold == 0.5 and choice.support == 7
    # target 0.9: 6/7 fails, 6/6 at 0.6 passes.
    choice = select_threshold(conf, right, target=0.9, rule="point", min_support=1)
    assert choice is not None and choice.threshold == 0.6
    # min support 7 with target 0.9: only τ = 0.5 has support 7, and it fails.
    assert select_threshold(conf, right, target=0.9, rule="point", min_support=7) is None


def test_ties_at_the_threshold_count_together() -> None:
    # Both items at 0.7 come with τ = 0.7: 3 right of 4 = 0.75 < 0.8, so τ = 0.9 (2/2) is chosen.
    choice = select_threshold([0.9, 0.9, 0.7, 0.7], [True, True, True, False], target=0.8, rule="point", min_support=1)
    assert choice is not None and (choice.threshold, choice.support) == (0.9, 2)


def test_unreachable_target_gives_none() -> None:
    rng = np.random.default_rng(0)
    conf = rng.random(500)
    assert select_threshold(conf, np.zeros(500, dtype=bool), target=0.6, rule="point") is None
    assert select_threshold([], [], target=0.9) is None


def test_the_bound_is_stricter_than_the_point_estimate() -> None:
    conf = np.linspace(1, 0, 100)
    right = np.ones(100, dtype=bool)
    right[[15, 35, 45, 55, 65, 75, 85, 95]] = False
    point = select_threshold(conf, right, target=0.87, rule="point")
    bound = select_threshold(conf, right, target=0.87, rule="bound")
    wilson = select_threshold(conf, right, target=0.87, rule="bound", method="wilson")
    assert point is not None and bound is not None and wilson is not None
    assert point.threshold < wilson.threshold <= bound.threshold, (point, wilson, bound)
    assert bound.lower_bound >= 0.87 and point.accuracy >= 0.87


def test_per_class_thresholds_judge_each_class_on_its_own_items() -> None:
    conf = [0.9] * 30 + [0.9] * 30
    predicted = [0] * 30 + [1] * 30
    right = [True] * 30 + [True] * 15 + [False] * 15
    per_class = select_class_thresholds(conf, predicted, right, 3, target=0.9)
    assert per_class[0] is not None and per_class[0].support == 30
    assert per_class[1] is None and per_class[2] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 1.0}, "target"),
        ({"target": 0.9, "rule": "median"}, "rule"),
        ({"target": 0.9, "min_support": 0}, "min_support"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        select_threshold([0.5], [True], **kwargs)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.data())
def test_bounds_lie_below_the_observed_accuracy(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    for method in ("clopper-pearson", "wilson"):
        bound = float(accuracy_lower_bound(k, n, method=method))  # type: ignore[arg-type]
        assert 0.0 <= bound <= k / n + 1e-12


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=80), st.floats(0.55, 0.99))
def test_a_chosen_threshold_really_meets_the_target(rows: list[tuple[float, bool]], target: float) -> None:
    conf = np.array([c for c, _ in rows])
    right = np.array([r for _, r in rows])
    for rule in ("point", "bound"):
        choice = select_threshold(conf, right, target=target, rule=rule, min_support=1)  # type: ignore[arg-type]
        if choice is None:
            continue
        above = conf >= choice.threshold
        assert choice.support == above.sum()
        assert choice.accuracy == pytest.approx(right[above].mean())
        assert (choice.lower_bound if rule == "bound" else choice.accuracy) >= target
        lower = conf[conf < choice.threshold]  # no lower observed threshold qualifies
        for tau in np.unique(lower):
            sel = conf >= tau
            value = right[sel].mean() if rule == "point" else float(accuracy_lower_bound(right[sel].sum(), sel.sum()))
            assert value < target


# --- soft hits ------------------------------------------------------------------------------------------------


def test_soft_hits_are_the_label_confidence_or_its_doubt_spread_over_the_other_classes() -> None:
    hits = soft_hits([0, 1, 2, 2], [0, 0, 2, 1], [0.9, 0.9, 1.0, 0.4], 3)
    np.testing.assert_allclose(hits, [0.9, 0.05, 1.0, 0.3])
    np.testing.assert_array_equal(soft_hits([0, 1], [0, 0], [1.0, 1.0], 2), [1.0, 0.0])  # sure labels: 0/1
    with pytest.raises(InvalidInputError, match="label_confidence"):
        soft_hits([0], [0], [1.2], 3)
    with pytest.raises(InvalidInputError, match="equally long"):
        soft_hits([0, 1], [0], [1.0], 3)


def test_soft_hits_choose_the_threshold_worked_out_by_hand() -> None:
    conf = [0.9, 0.8, 0.7, 0.6]
    hits = [1.0, 0.9, 0.5, 0.2]
    # point rule, target 0.75: τ = 0.9 → 1.0; 0.8 → 0.95; 0.7 → 2.4 / 3 = 0.8; 0.6 → 2.6 / 4 = 0.65.
    choice = select_threshold(conf, hits, target=0.75, rule="point", min_support=1)
    assert choice is not None and (choice.threshold, choice.support) == (0.7, 3)
    assert choice.accuracy == pytest.approx(0.8)


def test_the_bound_of_soft_hits_is_taken_on_their_rounded_sum() -> None:
    # 60 sure hits vouch for 95 % (0.05 ** (1/60) = 0.9513); 60 hits worth 0.99 sum to 59.4 → 59 of 60: 0.924.
    conf = [0.9] * 60 + [0.3] * 5
    sure = select_threshold(conf, [1.0] * 60 + [0.0] * 5, target=0.95)
    assert sure is not None and sure.support == 60 and sure.lower_bound == pytest.approx(0.05 ** (1 / 60))
    assert select_threshold(conf, [0.99] * 60 + [0.0] * 5, target=0.95) is None
    # 0.995 each sums to 59.7 → 60 of 60: the bound of 60 sure hits, the accuracy of the soft ones.
    almost = select_threshold(conf, [0.995] * 60 + [0.0] * 5, target=0.95)
    assert almost is not None and almost.support == 60
    assert almost.accuracy == pytest.approx(0.995) and almost.lower_bound == pytest.approx(0.05 ** (1 / 60))


def test_per_class_thresholds_take_soft_hits_too() -> None:
    conf = [0.9] * 60 + [0.9] * 60
    predicted = [0] * 60 + [1] * 60
    hits = [1.0] * 60 + [0.9] * 60  # class 1 agrees with doubtful labels only
    per_class = select_class_thresholds(conf, predicted, hits, 2, target=0.95)
    assert per_class[0] is not None and per_class[0].support == 60
    assert per_class[1] is None


@pytest.mark.parametrize("bad", [[1.5], [-0.1], [float("nan")]])
def test_hits_outside_zero_one_are_refused(bad: list[float]) -> None:
    with pytest.raises(InvalidInputError, match="correct"):
        select_threshold([0.5], bad, target=0.9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=80), st.floats(0.55, 0.99))
def test_booleans_and_their_float_values_choose_alike(rows: list[tuple[float, bool]], target: float) -> None:
    conf = np.array([c for c, _ in rows])
    right = np.array([r for _, r in rows])
    for rule in ("point", "bound"):
        as_bool = select_threshold(conf, right, target=target, rule=rule, min_support=1)  # type: ignore[arg-type]
        as_float = select_threshold(conf, right.astype(float), target=target, rule=rule, min_support=1)  # type: ignore[arg-type]
        assert as_bool == as_float


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=80), st.floats(0.55, 0.99))
def test_a_threshold_chosen_on_soft_hits_really_meets_the_target(
    rows: list[tuple[float, float]], target: float
) -> None:
    conf = np.array([c for c, _ in rows])
    hits = np.array([h for _, h in rows])
    choice = select_threshold(conf, hits, target=target, min_support=1)

    def bound_at(sel: np.ndarray) -> float:  # the documented rule: the bound of the rounded sum
        return float(accuracy_lower_bound(min(round(hits[sel].sum()), sel.sum()), sel.sum()))

    if choice is not None:
        above = conf >= choice.threshold
        assert choice.support == above.sum() and choice.accuracy == pytest.approx(hits[above].mean())
        assert choice.lower_bound == pytest.approx(bound_at(above)) and choice.lower_bound >= target
    lower = conf if choice is None else conf[conf < choice.threshold]
    for tau in np.unique(lower):  # no lower observed threshold qualifies
        assert bound_at(conf >= tau) < target
    # softening sure hits never raises the bound: a threshold certified on soft hits is certified on sure ones
    if choice is not None:
        assert select_threshold(conf, np.ceil(hits), target=target, min_support=1) is not None


def test_gold_items_that_agree_with_the_round_veto_nothing() -> None:
    conf = np.linspace(0.6, 0.99, 60)
    assert gold_gate(conf, np.zeros(60, dtype=int), np.zeros(60, dtype=int), [0.5, 0.5], target=0.9) == -np.inf


def test_gold_items_that_contradict_the_round_leave_only_what_they_vouch_for() -> None:
    """Above the round's cut, 60 sure and right gold items and 60 less sure and wrong: 50 % right, far below the
    target; the lowest threshold gold itself vouches for (Clopper–Pearson at 95 %) is where the right ones
    start, so the wrong ones are vetoed."""
    conf = np.r_[np.full(60, 0.97), np.full(60, 0.7)]
    pred = np.zeros(120, dtype=int)
    gold = np.r_[np.zeros(60, dtype=int), np.ones(60, dtype=int)]
    assert gold_gate(conf, pred, gold, [0.5, 0.5], target=0.9) == 0.97
    # Nothing gold vouches for: every machine label vetoed.
    assert gold_gate(conf[60:], pred[60:], gold[60:], [0.5, 0.5], target=0.9) == np.inf


def test_gold_items_the_round_would_not_machine_label_or_too_few_do_not_judge() -> None:
    # All wrong, but predicted as class 1, which the round never machine-labels (cut inf).
    assert gold_gate([0.9] * 50, [1] * 50, [0] * 50, [0.5, np.inf], target=0.8) == -np.inf
    # Nine wrong ones are fewer than min_support.
    assert gold_gate([0.9] * 9, [0] * 9, [1] * 9, [0.5, 0.5], target=0.8) == -np.inf


def test_gold_looking_a_little_low_does_not_overrule_the_validation_set() -> None:
    """37 of 45 right (.82) against a 0.9 target: the upper 95 % bound (~.91) still reaches it, no veto; at 74 of
    90 (.82), it does not (~.88): a veto."""
    few = np.r_[np.zeros(37, dtype=int), np.ones(8, dtype=int)]
    assert gold_gate(np.full(45, 0.9), np.zeros(45, dtype=int), few, [0.5, 0.5], target=0.9) == -np.inf
    many = np.r_[np.zeros(74, dtype=int), np.ones(16, dtype=int)]
    assert gold_gate(np.full(90, 0.9), np.zeros(90, dtype=int), many, [0.5, 0.5], target=0.9) == np.inf


def test_gold_gate_refuses_malformed_input() -> None:
    with pytest.raises(InvalidInputError, match="equally long"):
        gold_gate([0.9], [0, 1], [0], [0.5, 0.5], target=0.9)
    with pytest.raises(InvalidInputError, match="index cut"):
        gold_gate([0.9], [2], [0], [0.5, 0.5], target=0.9)
    with pytest.raises(InvalidInputError, match="target"):
        gold_gate([0.9], [0], [0], [0.5, 0.5], target=1.0)

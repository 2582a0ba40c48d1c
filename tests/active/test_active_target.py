"""The job-level accuracy target: the estimate, the expected gain of one more answer, and where to ask."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundswell.active import choose_reopen, estimate_accuracy, expected_gain
from groundswell.errors import InvalidInputError

AVERAGE = np.array([[0.7, 0.15, 0.15], [0.15, 0.7, 0.15], [0.15, 0.15, 0.7]])


def test_the_estimate_is_the_mean_probability_with_a_poisson_binomial_interval() -> None:
    estimate = estimate_accuracy([0.9, 0.8, 0.7, 0.6] * 5)
    assert estimate is not None
    assert estimate.accuracy == pytest.approx(0.75)
    half = 1.96 * np.sqrt(5 * (0.09 + 0.16 + 0.21 + 0.24)) / 20
    assert estimate.low == pytest.approx(0.75 - half, abs=1e-4)
    assert estimate.high == pytest.approx(0.75 + half, abs=1e-4)
    assert estimate_accuracy([1.0, 0.9]).high == 1.0  # type: ignore[union-attr]  # clipped to a probability
    assert estimate_accuracy([]) is None


def test_the_interval_covers_the_true_accuracy_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        p = rng.uniform(0.4, 1.0, 500)
        right = rng.random(500) < p
        estimate = estimate_accuracy(p)
        assert estimate is not None
        covered += estimate.low <= right.mean() <= estimate.high
    assert 0.92 < covered / 400 < 0.98


def test_gold_corrects_an_overconfident_estimate() -> None:
    # The posterior says 0.9 everywhere, but on 200 gold items it was right only 80 % of the time.
    hits = np.array([1.0] * 160 + [0.0] * 40)
    estimate = estimate_accuracy(np.full(1000, 0.9), gold_hits=hits, gold_confidence=np.full(200, 0.9))
    assert estimate is not None and estimate.gold_items == 200
    assert estimate.accuracy == pytest.approx(0.8)
    assert estimate.low < 0.8 - 1.96 * np.sqrt(0.16 / 200) * 0.9


def test_one_more_answer_gains_most_where_nothing_is_known_and_nothing_on_a_settled_item() -> None:
    posterior = np.array([[0.5, 0.5, 0.0], [0.99, 0.005, 0.005], [1 / 3, 1 / 3, 1 / 3], [0.8, 0.1, 0.1]])
    gain = expected_gain(posterior, AVERAGE)
    # By hand for the first: answers 0 / 1 / 2 leave max 0.35 / 0.35 / 0.075 → 0.775 − 0.5.
    assert gain[0] == pytest.approx(0.275)
    assert gain[2] == pytest.approx(0.7 - 1 / 3)  # from nothing to one average answer
    assert gain[1] == pytest.approx(0.0)
    assert gain[2] > gain[0] > gain[3] > gain[1]


def test_a_fairly_sure_label_gains_from_two_answers_where_one_cannot_overturn_it() -> None:
    sure = np.array([[0.8, 0.1, 0.1]])
    # One dissent leaves 0.8 on top (0.8·0.15 > 0.1·0.7): one answer gains nothing.
    one = (sure[:, :, None] * AVERAGE[None]).max(axis=1).sum() - 0.8
    assert one == pytest.approx(0.0)
    # Two agreeing dissents overturn it: the gain per answer is half of two answers' gain, by hand.
    pairs = sum(max(sure[0, c] * AVERAGE[c, a] * AVERAGE[c, b] for c in range(3)) for a in range(3) for b in range(3))
    assert expected_gain(sure, AVERAGE)[0] == pytest.approx((pairs - 0.8) / 2)
    assert expected_gain(sure, AVERAGE)[0] > 0


def test_a_spammer_crowd_gains_nothing() -> None:
    gain = expected_gain(np.array([[0.5, 0.3, 0.2]]), np.full((3, 3), 1 / 3))
    assert gain[0] == pytest.approx(0.0)


def test_nothing_is_asked_once_the_target_is_met() -> None:
    confidence = np.array([0.95, 0.9, 0.85])
    chosen = choose_reopen(confidence, np.full(3, 0.1), np.ones(3, dtype=bool), 0.9)
    assert len(chosen) == 0


def test_the_highest_gains_are_asked_until_they_cover_the_shortfall() -> None:
    confidence = np.array([0.6, 0.7, 0.9, 0.5, 0.95])
    gain = np.array([0.2, 0.1, 0.05, 0.3, 0.0])
    eligible = np.array([True, True, True, False, True])
    # Shortfall: 0.9 · 5 − 3.65 = 0.85. Eligible gains in order: 0.2, 0.1, 0.05 (item 3 is held) = 0.35 < 0.85.
    assert choose_reopen(confidence, gain, eligible, 0.9).tolist() == [0, 1, 2]
    # At 0.78 the shortfall is 0.25: the largest gain alone (item 3, 0.3) covers it; when item 3 is held,
    # the next two (0.2 + 0.1) do.
    assert choose_reopen(confidence, gain, np.ones(5, dtype=bool), 0.78).tolist() == [3]
    assert choose_reopen(confidence, gain, eligible, 0.78).tolist() == [0, 1]


def test_inputs_are_checked() -> None:
    with pytest.raises(InvalidInputError):
        estimate_accuracy([1.2])
    with pytest.raises(InvalidInputError):
        expected_gain(np.ones((2, 3)) / 3, np.eye(2))
    with pytest.raises(InvalidInputError):
        choose_reopen([0.5], [0.1, 0.2], [True], 0.9)
    with pytest.raises(InvalidInputError, match="target"):
        choose_reopen([0.5], [0.1], [True], 1.5)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 1), st.floats(0.01, 1), st.floats(0.01, 1)), min_size=1, max_size=30))
def test_the_expected_gain_is_never_negative_and_never_beyond_certainty(rows: list[tuple[float, ...]]) -> None:
    p = np.asarray(rows)
    p /= p.sum(axis=1, keepdims=True)
    gain = expected_gain(p, AVERAGE)
    assert (gain >= 0).all() and (p.max(axis=1) + gain <= 1 + 1e-9).all()


def test_asking_by_gain_reaches_a_target_sooner_than_asking_the_least_sure() -> None:
    """Simulated: items with two-class toss-ups and three-way unknowns; asking by expected gain needs fewer
    answers to lift the mean top posterior to the target than asking the least sure items first."""
    rng = np.random.default_rng(1)
    n = 3000
    truth = rng.integers(3, size=n)

    def answer(items: np.ndarray, post: np.ndarray) -> None:
        for i in items:
            given_label = rng.choice(3, p=AVERAGE[truth[i]])
            post[i] *= AVERAGE[:, given_label]
            post[i] /= post[i].sum()

    def answers_needed(order_by_gain: bool) -> int:
        post = np.full((n, 3), 1 / 3)
        answer(np.arange(n), post)
        spent = n
        while post.max(axis=1).mean() < 0.85 and spent < 6 * n:
            gain = expected_gain(post, AVERAGE)
            if order_by_gain:
                chosen = choose_reopen(post.max(axis=1), gain, np.ones(n, dtype=bool), 0.85)[:200]
            else:
                chosen = np.argsort(post.max(axis=1), kind="stable")[:200]
            answer(chosen, post)
            spent += len(chosen)
        return spent

    assert answers_needed(True) < answers_needed(False)


def test_answers_already_asked_for_cover_part_of_the_shortfall() -> None:
    confidence = np.array([0.6, 0.7, 0.9, 0.5, 0.95])
    gain = np.array([0.2, 0.1, 0.05, 0.3, 0.0])
    # Shortfall at 0.78 is 0.25; 0.2 of expected gain is already on its way: 0.05 is left, the best gain covers it.
    assert choose_reopen(confidence, gain, np.ones(5, dtype=bool), 0.78, pending=0.2).tolist() == [3]
    assert len(choose_reopen(confidence, gain, np.ones(5, dtype=bool), 0.78, pending=0.3)) == 0

"""Small crowds whose answers can be checked by hand."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from groundswell.consolidate import (
    BaseAggregator,
    DawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
    WeightedMajorityVote,
    consolidate,
)
from groundswell.consolidate.calibration import calibrated_posterior, evidence_weight

LABELS = ["positive", "negative", "neutral"]


def test_majority_vote_confidence_is_the_vote_share(toy_answers: pd.DataFrame) -> None:
    model = MajorityVote(labels=LABELS).fit(toy_answers)
    assert model.labels_.to_dict() == {
        "t1": "positive",
        "t2": "negative",
        "t3": "neutral",
        "t4": "positive",
        "t5": "negative",
    }
    assert model.confidence_.round(4).to_dict() == {"t1": 1.0, "t2": 0.6667, "t3": 1.0, "t4": 0.6667, "t5": 1.0}
    np.testing.assert_allclose(model.probas_.loc["t2"].to_numpy(), [0.0, 2 / 3, 1 / 3])


def test_majority_vote_skills_are_agreement_with_the_majority(toy_answers: pd.DataFrame) -> None:
    skills = MajorityVote(labels=LABELS).fit(toy_answers).skills_
    # w3 agrees on t1 and t3 but not t4; w4 agrees on t3, t4, t5 but not t2.
    assert skills.round(4).to_dict() == {"w1": 1.0, "w2": 1.0, "w3": 0.6667, "w4": 0.75}


def test_majority_vote_breaks_ties_at_random_but_reproducibly() -> None:
    tasks = np.repeat(np.arange(400), 2)
    answers = pd.DataFrame({"task": tasks, "worker": np.tile(["u", "v"], 400), "label": np.tile(["a", "b"], 400)})
    first = MajorityVote(random_state=1).fit_predict(answers)
    assert 0.4 < (first == "a").mean() < 0.6  # not always the first label
    pd.testing.assert_series_equal(MajorityVote(random_state=1).fit_predict(answers), first)
    assert not MajorityVote(random_state=2).fit_predict(answers).equals(first)
    assert (MajorityVote().fit(answers).confidence_ == 0.5).all()


def _disagreeing_pair(n: int = 20) -> pd.DataFrame:
    """Workers ``good`` and ``bad`` judge every task and always disagree."""
    tasks = [f"t{i}" for i in range(n)]
    truth = ["a" if i % 3 else "b" for i in range(n)]
    flipped = ["b" if x == "a" else "a" for x in truth]
    return pd.DataFrame(
        {"task": tasks * 2, "worker": ["good"] * n + ["bad"] * n, "label": truth + flipped},
    )


@pytest.mark.parametrize("make", [WeightedMajorityVote, DawidSkene, OneCoinDawidSkene], ids=["wmv", "ds", "ods"])
def test_gold_tells_whom_to_believe_when_two_workers_always_disagree(make: Callable[..., BaseAggregator]) -> None:
    answers = _disagreeing_pair()
    good = answers[answers["worker"] == "good"].set_index("task")["label"]
    gold = good.iloc[:5]
    model = make(labels=["a", "b"]).fit(answers, gold=gold)
    pd.testing.assert_series_equal(model.labels_, good.iloc[5:].sort_index(), check_names=False)
    assert model.skills_["good"] > model.skills_["bad"]


def test_dawid_skene_with_crowd_smoothing_learns_to_read_a_worker_who_swaps_two_labels() -> None:
    # Three reliable workers and one who always says "b" for "a" and "a" for "b" over 30 tasks; then a
    # task that only the swapper judged. Majority vote believes him; Dawid–Skene translates him. Ground
    # Truth's MDS smoothing (the default) pulls his matrix toward a plain diagonal, which blurs exactly
    # this kind of systematic confusion, so it cannot tell.
    truth = ["a", "b", "c"] * 10
    swap = {"a": "b", "b": "a", "c": "c"}
    rows = [(f"t{i}", w, label) for i, label in enumerate(truth) for w in ("r1", "r2", "r3")]
    rows += [(f"t{i}", "swapper", swap[label]) for i, label in enumerate(truth)]
    rows.append(("lonely", "swapper", "a"))
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
    assert MajorityVote().fit_predict(answers)["lonely"] == "a"
    model = DawidSkene(smoothing="crowd").fit(answers)
    assert model.labels_["lonely"] == "b"
    assert model.confusions_.loc[("swapper", "a"), "b"] > 0.5
    assert model.labels_.drop("lonely").to_dict() == {f"t{i}": label for i, label in enumerate(truth)}
    assert DawidSkene(smoothing="modified").fit(answers).confidence_["lonely"] < 0.6


def test_dawid_skene_confusions_rows_sum_to_one_and_skills_are_accuracies(toy_answers: pd.DataFrame) -> None:
    model = DawidSkene(labels=LABELS).fit(toy_answers)
    assert model.confusions_.index.names == ["worker", "true_label"]
    np.testing.assert_allclose(model.confusions_.sum(axis=1).to_numpy(), 1.0)
    np.testing.assert_allclose(model.priors_.sum(), 1.0)
    assert model.loss_history_ and model.n_iter_ == len(model.loss_history_)


def test_evidence_discount_matches_the_design_effect_by_hand() -> None:
    np.testing.assert_allclose(evidence_weight([1, 2, 5], 0.25), [1.0, 1 / 1.25, 1 / 2.0])
    # Two votes for class 0 from workers right 80% of the time, flat prior: 0.64 / 0.68 undiscounted,
    # and exactly one vote's worth (0.8) when the errors are fully correlated.
    log_lik = np.log([[0.8 * 0.8, 0.2 * 0.2]])
    log_prior = np.log([0.5, 0.5])
    np.testing.assert_allclose(calibrated_posterior(log_prior, log_lik, [2], 0.0)[0, 0], 0.64 / 0.68)
    np.testing.assert_allclose(calibrated_posterior(log_prior, log_lik, [2], 1.0)[0, 0], 0.8)


def test_consolidate_returns_task_label_confidence(toy_answers: pd.DataFrame) -> None:
    table = consolidate(toy_answers, "mv", labels=LABELS)
    assert list(table.columns) == ["task", "label", "confidence"]
    assert table.iloc[1].to_dict() == {"task": "t2", "label": "negative", "confidence": pytest.approx(2 / 3)}

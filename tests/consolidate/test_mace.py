"""MACE: known answers on constructed crowds, the aggregator contract, and properties on random crowds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groundswell.consolidate import MajorityVote, simulate_crowd
from groundswell.consolidate.mace import MACE
from groundswell.errors import UsageError

LABELS = ["a", "b", "c"]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
METHODS = pytest.mark.parametrize("method", ["vb", "em"])


def _reliable_crowd(n: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    """Three workers, each right on 9 tasks in 10; a wrong answer is the next label (a→b, b→c, c→a)."""
    truth = pd.Series([LABELS[i % 3] for i in range(n)], index=[f"t{i:02d}" for i in range(n)])
    shifted = {"a": "b", "b": "c", "c": "a"}
    rows = [
        (task, f"g{w}", shifted[label] if i % 10 == w else label)
        for i, (task, label) in enumerate(truth.items())
        for w in range(3)
    ]
    return pd.DataFrame(rows, columns=["task", "worker", "label"]), truth


def _accuracy(labels: pd.Series, truth: pd.Series) -> float:
    return float((labels == truth.loc[labels.index]).mean())


@METHODS
def test_a_worker_who_always_gives_the_same_label_is_a_spammer_and_moves_nothing(method: str) -> None:
    answers, truth = _reliable_crowd()
    spam = pd.DataFrame({"task": truth.index, "worker": "lazy", "label": "a"})
    crowd = pd.concat([answers, spam], ignore_index=True)
    model = MACE(labels=LABELS, method=method).fit(crowd)
    assert model.competence_["lazy"] < 0.2
    assert model.competence_.drop("lazy").min() > 0.8
    assert model.spamming_.loc["lazy", "a"] > 0.9
    pd.testing.assert_series_equal(model.labels_, truth, check_names=False)
    # Where a good worker slipped from c to a, the spammer's "a" ties majority vote; MACE is not fooled.
    tied = MajorityVote(labels=LABELS).fit(crowd).confidence_ == 0.5
    assert tied.sum() >= 5
    assert (model.confidence_[tied] > 0.8).all()


@METHODS
def test_a_worker_who_answers_at_random_gets_low_competence(method: str) -> None:
    answers, truth = _reliable_crowd(90)
    rng = np.random.default_rng(5)
    noise = pd.DataFrame({"task": truth.index, "worker": "random", "label": rng.choice(LABELS, len(truth))})
    model = MACE(labels=LABELS, method=method).fit(pd.concat([answers, noise], ignore_index=True))
    assert model.competence_["random"] < 0.3
    assert model.competence_.drop("random").min() > 0.8
    assert model.skills_["random"] < 0.5 < 0.85 < model.skills_.drop("random").min()
    pd.testing.assert_series_equal(model.labels_, truth, check_names=False)


@METHODS
def test_gold_tells_whom_to_believe_and_is_left_out_of_the_outputs(method: str) -> None:
    # Two workers judge every task and always disagree: only gold can say which one knows.
    n = 20
    truth = pd.Series(["a" if i % 3 else "b" for i in range(n)], index=[f"t{i}" for i in range(n)])
    flipped = truth.map({"a": "b", "b": "a"})
    answers = pd.DataFrame(
        {"task": list(truth.index) * 2, "worker": ["good"] * n + ["bad"] * n, "label": [*truth, *flipped]}
    )
    for gold, believed in [(truth.iloc[:5], truth), (flipped.iloc[:5], flipped)]:
        model = MACE(labels=["a", "b"], method=method).fit(answers, gold=gold)
        outputs = set(model.probas_.index) | set(model.labels_.index) | set(model.confidence_.index)
        assert outputs == set(truth.index[5:])
        pd.testing.assert_series_equal(model.labels_, believed.iloc[5:].sort_index(), check_names=False)
    assert model.competence_["bad"] > model.competence_["good"]  # the last gold said "bad" was right


@METHODS
def test_gold_tasks_measure_a_worker_who_judged_nothing_else(method: str) -> None:
    # "x" judges only the ten gold tasks, always saying "b" where gold says "a": a vote-based estimate
    # would trust them (they agree with the others there), gold says they are wrong every time.
    answers, truth = _reliable_crowd()
    gold = truth[truth == "a"].iloc[:10]
    judged = [*answers.itertuples(index=False), *((task, "x", "b") for task in gold.index)]
    crowd = pd.DataFrame(judged, columns=["task", "worker", "label"])
    with_gold = MACE(labels=LABELS, method=method).fit(crowd, gold=gold)
    assert with_gold.competence_["x"] < 0.2 < 0.8 < with_gold.competence_.drop("x").min()
    honest = MACE(labels=LABELS, method=method).fit(
        crowd.assign(label=crowd["label"].where(crowd["worker"] != "x", "a")), gold=gold
    )
    assert honest.competence_["x"] > 0.8


def test_class_shares_are_learned_unless_fixed_uniform() -> None:
    crowd = simulate_crowd(800, 20, labels=LABELS, class_prior=[0.7, 0.2, 0.1], hard_share=0.0, random_state=3)
    shares = crowd.truth.value_counts(normalize=True).reindex(LABELS).to_numpy()
    np.testing.assert_allclose(MACE(labels=LABELS).fit(crowd.answers).priors_.to_numpy(), shares, atol=0.05)
    uniform = MACE(labels=LABELS, class_prior="uniform").fit(crowd.answers).priors_.to_numpy()
    np.testing.assert_allclose(uniform, 1 / 3)


def test_more_restarts_never_end_on_a_worse_objective() -> None:
    # The restarts of a seed come in the same order whatever their number, so each fit sees the runs of
    # the smaller ones; on this crowd they reach different optima.
    crowd = simulate_crowd(100, 12, labels=LABELS, spammer_share=0.3, random_state=15)
    one, three, eight = (MACE(labels=LABELS, n_restarts=n).fit(crowd.answers).objective_ for n in (1, 3, 8))
    assert one <= three <= eight
    assert eight > one + 0.05


@METHODS
def test_reported_parameters_agree_and_em_posteriors_follow_from_them(method: str, toy_answers: pd.DataFrame) -> None:
    labels = ["positive", "negative", "neutral"]
    model = MACE(labels=labels, method=method, n_iter=500, tol=1e-12).fit(toy_answers)
    theta, xi, pi = model.competence_, model.spamming_, model.priors_
    np.testing.assert_allclose(model.skills_, theta + (1 - theta) * (xi.to_numpy() @ pi.to_numpy()))
    np.testing.assert_allclose(xi.sum(axis=1), 1.0)
    np.testing.assert_allclose(pi.sum(), 1.0)
    if method != "em":  # VB weighs answers with exp E[log θ], not with the posterior means reported
        return
    expected = pd.DataFrame(1.0, index=model.probas_.index, columns=labels) * pi.to_numpy()
    for task, worker, answer in toy_answers.itertuples(index=False):
        right = expected.columns == answer
        expected.loc[task] *= (1 - theta[worker]) * xi.loc[worker, answer] + theta[worker] * right
    expected = expected.div(expected.sum(axis=1), axis=0)
    pd.testing.assert_frame_equal(model.raw_probas_, expected, atol=1e-6, check_names=False)


@METHODS
@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_contract_on_a_simulated_crowd_of_k_labels(method: str, k: int) -> None:
    labels = [f"l{j}" for j in reversed(range(k))]  # not sorted: columns must follow the given order
    crowd = simulate_crowd(200, 15, labels=labels, judgments_per_task=3, random_state=k)
    gold = crowd.truth.iloc[:20]
    model = MACE(labels=[*labels, "unused"], method=method).fit(crowd.answers, gold=gold)
    assert list(model.probas_.columns) == [*labels, "unused"]
    assert list(model.spamming_.columns) == [*labels, "unused"]
    expected_tasks = crowd.truth.index.drop(gold.index)
    assert set(model.probas_.index) == set(expected_tasks) == set(model.labels_.index)
    probas = model.probas_.to_numpy()
    assert np.isfinite(probas).all() and (probas >= 0).all()
    np.testing.assert_allclose(probas.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.confidence_, model.probas_.max(axis=1))
    assert (model.labels_ != "unused").all()
    assert set(model.competence_.index) == set(crowd.answers["worker"]) == set(model.skills_.index)
    assert ((model.competence_ > 0) & (model.competence_ < 1)).all()
    assert 1 <= model.n_iter_ <= model.n_iter
    vote = MajorityVote(labels=labels).fit(crowd.answers, gold=gold).labels_
    assert _accuracy(model.labels_, crowd.truth) > _accuracy(vote, crowd.truth) - 0.05


def test_a_worker_with_one_answer_and_a_task_with_one_answer(toy_answers: pd.DataFrame) -> None:
    single = pd.DataFrame([("t6", "w5", "neutral")], columns=["task", "worker", "label"])
    answers = pd.concat([toy_answers, single], ignore_index=True)
    model = MACE(labels=["positive", "negative", "neutral"]).fit(answers)
    assert model.labels_["t6"] == "neutral"  # nobody else says anything about t6
    assert 0 < model.competence_["w5"] < 1
    assert model.labels_["t1"] == "positive" and model.labels_["t3"] == "neutral"


def test_determinism_for_a_fixed_random_state() -> None:
    crowd = simulate_crowd(300, 20, labels=LABELS, spammer_share=0.3, random_state=4)
    first = MACE(random_state=3).fit(crowd.answers)
    second = MACE(random_state=3).fit(crowd.answers.sample(frac=1.0, random_state=1))
    pd.testing.assert_frame_equal(first.probas_, second.probas_.loc[first.probas_.index], atol=1e-10)
    pd.testing.assert_series_equal(first.competence_, second.competence_, atol=1e-10)
    assert first.n_iter_ == second.n_iter_


def test_unknown_options_are_refused() -> None:
    answers = pd.DataFrame({"task": [1], "worker": ["w"], "label": ["a"]})
    with pytest.raises(UsageError):
        MACE(method="gibbs").fit(answers)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        MACE(spam_prior=0.0).fit(answers)
    with pytest.raises(UsageError, match="unknown calibration 'sometimes'"):
        MACE(calibration="sometimes").fit(answers)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mace_beats_majority_vote_when_a_third_of_the_workers_spam(seed: int) -> None:
    crowd = simulate_crowd(
        600, 30, labels=LABELS, judgments_per_task=5, spammer_share=0.3, hard_share=0.1, random_state=seed
    )
    assert crowd.accuracy.eq(1 / 3).mean() > 0.15  # the crowd really has spammers
    mace = _accuracy(MACE(labels=LABELS).fit_predict(crowd.answers), crowd.truth)
    vote = _accuracy(MajorityVote(labels=LABELS).fit_predict(crowd.answers), crowd.truth)
    assert mace > vote + 0.02


@st.composite
def crowds(draw: st.DrawFn) -> pd.DataFrame:
    """Small random crowds: 1–12 tasks, each judged by a non-empty subset of up to 6 workers."""
    n_tasks, n_workers = draw(st.integers(1, 12)), draw(st.integers(1, 6))
    rows = [
        (f"t{task}", f"w{worker}", draw(st.sampled_from(LABELS)))
        for task in range(n_tasks)
        for worker in sorted(draw(st.sets(st.integers(0, n_workers - 1), min_size=1)))
    ]
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


@SETTINGS
@given(answers=crowds(), order=st.permutations(LABELS), method=st.sampled_from(["vb", "em"]))
def test_renaming_the_labels_renames_the_answers(answers: pd.DataFrame, order: list[str], method: str) -> None:
    rename = dict(zip(LABELS, order, strict=True))
    before = MACE(labels=LABELS, method=method).fit(answers)
    after = MACE(labels=LABELS, method=method).fit(answers.assign(label=answers["label"].map(rename)))
    moved = after.probas_[[rename[label] for label in LABELS]].to_numpy()
    np.testing.assert_allclose(moved, before.probas_.to_numpy(), atol=1e-6)
    ordered = np.sort(before.probas_.to_numpy(), axis=1)
    clear = before.probas_.index[ordered[:, -1] - ordered[:, -2] > 1e-4]
    pd.testing.assert_series_equal(after.labels_.loc[clear], before.labels_.loc[clear].map(rename))
    np.testing.assert_allclose(after.competence_, before.competence_, atol=1e-6)


@SETTINGS
@given(answers=crowds(), method=st.sampled_from(["vb", "em"]))
def test_probabilities_are_finite_and_rows_sum_to_one(answers: pd.DataFrame, method: str) -> None:
    model = MACE(labels=LABELS, method=method).fit(answers)
    probas = model.probas_.to_numpy()
    assert np.isfinite(probas).all() and (probas >= 0).all()
    np.testing.assert_allclose(probas.sum(axis=1), 1.0, atol=1e-9)
    assert np.isfinite(model.competence_).all() and np.isfinite(model.objective_)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_adding_a_uniform_random_spammer_changes_accuracy_little(seed: int) -> None:
    crowd = simulate_crowd(300, 20, labels=LABELS, judgments_per_task=3, spammer_share=0.0, random_state=seed)
    rng = np.random.default_rng(seed)
    spammer = pd.DataFrame(
        {"task": crowd.truth.index, "worker": "spammer", "label": rng.choice(LABELS, len(crowd.truth))}
    )
    with_spammer = pd.concat([crowd.answers, spammer], ignore_index=True)
    model = MACE(labels=LABELS).fit(with_spammer)
    alone = _accuracy(MACE(labels=LABELS).fit_predict(crowd.answers), crowd.truth)
    assert abs(_accuracy(model.labels_, crowd.truth) - alone) <= 0.04  # majority vote: often 0.04 lower
    assert model.competence_["spammer"] < 0.25

"""GLAD: crowds whose answer is known, the aggregator contract, and properties on random and simulated crowds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import approx_fprime

from groundswell.consolidate import MajorityVote, simulate_crowd
from groundswell.consolidate._encoding import encode_answers
from groundswell.consolidate.glad import GLAD, _Judgments
from groundswell.errors import UsageError

LABELS = ["a", "b", "c"]
SETTINGS = settings(max_examples=25, deadline=None)


def _accuracy(labels: pd.Series, truth: pd.Series) -> float:
    return float((labels == truth.loc[labels.index]).mean())


def _perfect_among_randoms(k: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """60 tasks judged by a perfect worker, three 75% workers and two random ones; then 20 tasks judged only
    by the perfect worker and the two random ones, who agree on a wrong label.

    The 75% workers are needed: with the perfect worker and the two random ones alone, every pair agrees on
    ``1/K`` of the tasks and the joint distribution of the three answers is uniform whoever is perfect, so no
    method can tell who to believe.
    """
    rng = np.random.default_rng(seed)
    labels = [f"l{i}" for i in range(k)]
    rows, truth = [], {}
    for i in range(80):
        task, right = f"t{i:02d}", int(rng.integers(0, k))
        truth[task] = labels[right]
        rows.append((task, "perfect", labels[right]))
        if i < 60:
            for j in range(3):
                answer = right if rng.random() < 0.75 else (right + int(rng.integers(1, k))) % k
                rows.append((task, f"decent{j}", labels[answer]))
            rows += [(task, spammer, labels[int(rng.integers(0, k))]) for spammer in ("random1", "random2")]
        else:
            wrong = (right + int(rng.integers(1, k))) % k
            rows += [(task, spammer, labels[wrong]) for spammer in ("random1", "random2")]
    return pd.DataFrame(rows, columns=["task", "worker", "label"]), pd.Series(truth), labels


@pytest.mark.parametrize("k", [2, 3, 5])
def test_a_perfect_worker_outweighs_two_random_ones_who_agree(k: int) -> None:
    answers, truth, labels = _perfect_among_randoms(k)
    contested = [f"t{i}" for i in range(60, 80)]
    assert (MajorityVote(labels=labels).fit_predict(answers)[contested] != truth[contested]).all()

    model = GLAD(labels=labels).fit(answers)
    pd.testing.assert_series_equal(model.labels_[contested], truth[contested], check_names=False)
    randoms, skills = ["random1", "random2"], model.skills_
    assert skills.idxmax() == "perfect"
    assert skills[randoms].max() < skills.filter(like="decent").min()
    # Random workers end up near chance, and not below it (the default bound): not "adversaries" whose votes
    # count for the other labels.
    assert (skills[randoms] < 1.0 / k + 0.1).all()
    assert (model.alphas_[randoms] >= -np.log(max(k - 1, 1)) - 1e-9).all()


def _easy_and_hard(k: int = 4, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, list[str], list[str]]:
    """40 easy tasks everyone gets right; 20 hard ones only three able workers get right (six weak ones guess)."""
    rng = np.random.default_rng(seed)
    labels = [f"l{i}" for i in range(k)]
    rows, truth = [], {}
    for i in range(60):
        task, right = f"t{i:02d}", int(rng.integers(0, k))
        truth[task] = labels[right]
        rows += [(task, f"able{j}", labels[right]) for j in range(3)]
        rows += [(task, f"weak{j}", labels[int(rng.integers(0, k)) if i >= 40 else right]) for j in range(6)]
    hard = [f"t{i}" for i in range(40, 60)]
    return pd.DataFrame(rows, columns=["task", "worker", "label"]), pd.Series(truth), labels, hard


def test_difficulty_separates_easy_from_hard_items_and_able_from_weak_workers() -> None:
    answers, truth, labels, hard = _easy_and_hard()
    easy = truth.index.difference(hard)
    model = GLAD(labels=labels).fit(answers)
    # Items everyone gets right are easy (large β); items only the able workers get right are hard.
    assert model.betas_[easy].min() > 2.0 * model.betas_[hard].median()
    # The weak workers agree with the consensus on two thirds of the items, yet rank below the able ones.
    assert model.alphas_.filter(like="able").min() > model.alphas_.filter(like="weak").max()
    assert model.confidence_[hard].mean() < model.confidence_[easy].mean()
    glad_hard = _accuracy(model.labels_[hard], truth)
    assert glad_hard >= 0.9
    assert glad_hard > _accuracy(MajorityVote(labels=labels).fit_predict(answers)[hard], truth)


def test_gold_tasks_inform_abilities_and_are_left_out_of_every_output() -> None:
    # Two workers who always disagree: only gold can say which one to believe.
    n = 20
    tasks = [f"t{i}" for i in range(n)]
    truth = ["a" if i % 3 else "b" for i in range(n)]
    flipped = ["b" if x == "a" else "a" for x in truth]
    answers = pd.DataFrame({"task": tasks * 2, "worker": ["good"] * n + ["bad"] * n, "label": truth + flipped})
    good = pd.Series(truth, index=tasks)
    for gold in (good.iloc[:5], pd.Series(flipped, index=tasks).iloc[:5]):
        model = GLAD(labels=["a", "b"]).fit(answers, gold=gold)
        believed = "good" if gold.equals(good.iloc[:5]) else "bad"
        expected = answers[answers["worker"] == believed].set_index("task")["label"].iloc[5:]
        pd.testing.assert_series_equal(model.labels_, expected.sort_index(), check_names=False)
        assert model.skills_.idxmax() == believed
        for output in (model.labels_, model.probas_, model.confidence_, model.betas_):
            assert output.index.intersection(gold.index).empty
            assert len(output) == n - 5


def test_gold_keeps_outvoting_a_herd_in_every_iteration() -> None:
    # Two workers who always give the same answer, wrong on every third task, against one who is always
    # right. Without gold the pair looks better (they agree with each other); 40 gold tasks must keep saying
    # otherwise through every E-step, not just the first.
    rows, truth = [], {}
    for i in range(60):
        task, right = f"t{i:02d}", (i // 2) % 2
        truth[task] = right
        herd = 1 - right if i % 3 == 0 else right
        rows += [(task, "expert", right), (task, "herd1", herd), (task, "herd2", herd)]
    answers, gold = pd.DataFrame(rows, columns=["task", "worker", "label"]), pd.Series(truth).iloc[:40]
    without = GLAD().fit(answers).alphas_
    assert without["herd1"] > without["expert"]
    informed = GLAD().fit(answers, gold=gold).alphas_
    assert informed["expert"] > informed["herd1"] + 0.5


@pytest.mark.parametrize("adversarial", [False, True])
def test_the_m_step_gradient_is_the_derivative_of_its_loss(adversarial: bool) -> None:
    crowd = simulate_crowd(40, 8, labels=LABELS, random_state=5)
    data = _Judgments(encode_answers(crowd.answers, LABELS))
    rng = np.random.default_rng(0)
    n = data.n_workers + data.n_tasks
    model = GLAD(alpha_mean=0.5, alpha_sd=1.5, log_beta_mean=0.2, log_beta_sd=0.7, adversarial=adversarial)
    floor = -np.inf if adversarial else -np.log(2.0)
    loss = model._objective(data, rng.random(len(data.task)), rng.uniform(0.5, 3.0, n), floor)
    point = rng.normal(size=n)
    numeric = approx_fprime(point, lambda u: loss(u)[0], 1e-6)
    np.testing.assert_allclose(loss(point)[1], numeric, rtol=1e-4, atol=1e-4)


def test_contract_rows_sum_to_one_in_the_jobs_label_order() -> None:
    crowd = simulate_crowd(200, 15, labels=LABELS, judgments_per_task=3, random_state=3)
    order = ["c", "a", "b", "d"]  # "d" is never given by anyone
    model = GLAD(labels=order).fit(crowd.answers)
    assert list(model.probas_.columns) == order
    np.testing.assert_allclose(model.probas_.sum(axis=1).to_numpy(), 1.0, atol=1e-12)
    assert (model.labels_ != "d").all()
    assert (model.probas_["d"] < model.probas_.drop(columns="d").max(axis=1)).all()
    chosen = model.probas_.to_numpy()[np.arange(len(model.labels_)), [order.index(x) for x in model.labels_]]
    np.testing.assert_allclose(model.confidence_.to_numpy(), chosen)
    assert list(model.skills_.index) == list(model.alphas_.index) == sorted(crowd.answers["worker"].unique())
    assert ((model.skills_ > 0) & (model.skills_ < 1)).all()
    average_item = np.exp(np.log(model.betas_).mean())  # no gold here: betas_ covers every task
    np.testing.assert_allclose(model.skills_, 1.0 / (1.0 + np.exp(-model.alphas_ * average_item)))
    assert (model.betas_ > 0).all() and list(model.betas_.index) == list(model.labels_.index)
    assert model.n_iter_ == len(model.loss_history_) >= 2
    # A generalised EM: every M-step and E-step raises the penalised likelihood.
    history = np.asarray(model.loss_history_)
    assert (np.diff(history) >= -1e-9 * np.abs(history[1:])).all()
    assert "GLAD(labels=" in repr(model) and model.get_params()["adversarial"] is False


def test_a_lone_judgment_a_lone_worker_and_ten_labels_stay_proper() -> None:
    rng = np.random.default_rng(0)
    labels = list(range(10))
    rows = [(t, w, int(rng.integers(0, 9))) for t in range(40) for w in rng.choice(8, size=3, replace=False)]
    rows += [(100, 0, 4), (101, "newcomer", 7)]  # a task with one judgment; a worker with one judgment
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"]).astype({"worker": str})
    model = GLAD(labels=labels).fit(answers)
    probas = model.probas_.to_numpy()
    assert np.isfinite(probas).all() and (probas >= 0).all()
    np.testing.assert_allclose(probas.sum(axis=1), 1.0, atol=1e-12)
    assert model.labels_[100] == 4 and model.labels_[101] == 7  # a single vote is evidence for its label
    assert (model.labels_ != 9).all()  # nobody ever said 9
    assert np.isfinite(model.alphas_).all() and np.isfinite(model.betas_).all()


def test_adversarial_workers_are_allowed_only_when_asked() -> None:
    # "contrarian" always gives the label the two reliable workers do not: adversarial in the paper's sense.
    rng = np.random.default_rng(1)
    rows = []
    for i in range(60):
        right = int(rng.integers(0, 2))
        rows += [(i, "r1", right), (i, "r2", right), (i, "contrarian", 1 - right)]
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
    assert GLAD().fit(answers).alphas_["contrarian"] >= 0.0
    assert GLAD(adversarial=True).fit(answers).alphas_["contrarian"] < -1.0


@st.composite
def crowds(draw: st.DrawFn) -> pd.DataFrame:
    """Small random crowds: 1–12 tasks, each judged by a non-empty subset of up to 6 workers."""
    n_tasks, n_workers = draw(st.integers(1, 12)), draw(st.integers(1, 6))
    rows = []
    for task in range(n_tasks):
        for worker in sorted(draw(st.sets(st.integers(0, n_workers - 1), min_size=1))):
            rows.append((f"t{task}", f"w{worker}", draw(st.sampled_from(LABELS))))
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def _clear(probas: pd.DataFrame) -> pd.Index:
    ordered = np.sort(probas.to_numpy(), axis=1)
    clear: pd.Index = probas.index[ordered[:, -1] - ordered[:, -2] > 1e-6]
    return clear


@SETTINGS
@given(answers=crowds(), permutation=st.permutations(LABELS))
def test_renaming_the_labels_renames_the_chosen_labels(answers: pd.DataFrame, permutation: list[str]) -> None:
    rename = dict(zip(LABELS, permutation, strict=True))
    before = GLAD(labels=LABELS).fit(answers)
    after = GLAD(labels=LABELS).fit(answers.assign(label=answers["label"].map(rename)))
    clear = _clear(before.probas_)
    pd.testing.assert_series_equal(after.labels_.loc[clear], before.labels_.loc[clear].map(rename))
    moved = after.probas_[[rename[x] for x in LABELS]].to_numpy()
    np.testing.assert_allclose(moved, before.probas_.to_numpy(), atol=1e-7)


@SETTINGS
@given(answers=crowds(), data=st.data())
def test_relabelling_workers_and_tasks_changes_nothing(answers: pd.DataFrame, data: st.DataObject) -> None:
    workers, tasks = sorted(answers["worker"].unique()), sorted(answers["task"].unique())
    worker_map = dict(zip(workers, (f"x{i}" for i in data.draw(st.permutations(range(len(workers))))), strict=True))
    task_map = dict(zip(tasks, (1000 + i for i in data.draw(st.permutations(range(len(tasks))))), strict=True))
    renamed = answers.assign(worker=answers["worker"].map(worker_map), task=answers["task"].map(task_map))
    before = GLAD(labels=LABELS).fit(answers)
    after = GLAD(labels=LABELS).fit(renamed.sample(frac=1.0, random_state=data.draw(st.integers(0, 9))))
    back = after.probas_.rename(index={v: k for k, v in task_map.items()}).loc[before.probas_.index]
    np.testing.assert_allclose(back.to_numpy(), before.probas_.to_numpy(), atol=1e-7)
    assert np.isfinite(before.probas_.to_numpy()).all()
    np.testing.assert_allclose(before.probas_.sum(axis=1).to_numpy(), 1.0, atol=1e-12)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), coverage=st.floats(0.3, 1.0))
def test_a_uniform_random_spammer_barely_moves_accuracy(seed: int, coverage: float) -> None:
    crowd = simulate_crowd(300, 20, labels=LABELS, judgments_per_task=3, random_state=seed)
    rng = np.random.default_rng(seed)
    tasks = crowd.truth.index[rng.random(len(crowd.truth)) < coverage]
    spam = pd.DataFrame({"task": tasks, "worker": "spammer", "label": rng.choice(LABELS, len(tasks))})
    with_spam = pd.concat([crowd.answers, spam], ignore_index=True)
    before = _accuracy(GLAD(labels=LABELS).fit_predict(crowd.answers), crowd.truth)
    model = GLAD(labels=LABELS).fit(with_spam)
    assert _accuracy(model.labels_, crowd.truth) >= before - 0.03
    assert model.skills_["spammer"] < model.skills_.drop("spammer").median()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_glad_beats_majority_vote_when_workers_differ_in_ability(seed: int) -> None:
    crowd = simulate_crowd(1000, 30, labels=LABELS, judgments_per_task=5, accuracy=(0.45, 0.95), random_state=seed)
    glad = GLAD(labels=LABELS).fit(crowd.answers)
    mv = _accuracy(MajorityVote(labels=LABELS).fit_predict(crowd.answers), crowd.truth)
    assert _accuracy(glad.labels_, crowd.truth) >= mv + 0.015
    # The learned skills track the simulated accuracies.
    assert np.corrcoef(glad.skills_, crowd.accuracy.loc[glad.skills_.index])[0, 1] > 0.8


def test_an_unknown_calibration_is_refused() -> None:
    crowd = simulate_crowd(20, 5, judgments_per_task=3, random_state=0)
    with pytest.raises(UsageError, match="unknown calibration 'sometimes'"):
        GLAD(calibration="sometimes").fit(crowd.answers)  # type: ignore[arg-type]

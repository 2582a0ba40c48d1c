"""The ``auto`` rule, ``make_aggregator``, the standalone command, and the package's public surface."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import groundswell.consolidate as consolidate_pkg
from groundswell.cli.consolidate import register
from groundswell.consolidate import (
    AUTO_CANDIDATES,
    AutoAggregator,
    MajorityVote,
    OneCoinDawidSkene,
    make_aggregator,
    simulate_crowd,
)
from groundswell.consolidate._encoding import encode_answers
from groundswell.consolidate.selection import answer_folds, pick_by_evidence
from groundswell.errors import UsageError


def test_auto_uses_majority_vote_without_overlap() -> None:
    answers = pd.DataFrame({"task": range(30), "worker": np.arange(30) % 3, "label": np.arange(30) % 2})
    model = AutoAggregator().fit(answers)
    assert model.method_ == "mv" and "no task has two answers" in model.reason_
    pd.testing.assert_frame_equal(model.probas_, MajorityVote().fit(answers).probas_)


def test_auto_takes_a_worker_model_when_the_withheld_answers_favour_it_and_gives_its_exact_output() -> None:
    # Workers of very different quality: weighting them must beat counting them, and the answers show it.
    crowd = simulate_crowd(400, 20, judgments_per_task=3, accuracy=(0.35, 0.95), random_state=1)
    auto = AutoAggregator().fit(crowd.answers)
    assert auto.method_ != "mv", auto.reason_
    assert auto.evidence_[auto.method_].beats_floor
    alone = make_aggregator(auto.method_, **AUTO_CANDIDATES[auto.method_]).fit(crowd.answers)
    pd.testing.assert_frame_equal(auto.probas_, alone.probas_)
    truth = crowd.truth.reindex(auto.labels_.index)
    mv = MajorityVote().fit_predict(crowd.answers).reindex(truth.index)
    assert (auto.labels_ == truth).mean() > (mv == truth).mean() + 0.03


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auto_stays_with_majority_vote_where_no_model_surely_helps(seed: int) -> None:
    # Equal workers: weights cannot help, and a worker model fitted on two answers per worker could only hurt.
    crowd = simulate_crowd(300, 300, judgments_per_task=2, accuracy=(0.7, 0.7), random_state=seed)
    auto = AutoAggregator(random_state=seed).fit(crowd.answers)
    truth = crowd.truth.reindex(auto.labels_.index)
    mv = MajorityVote(random_state=seed).fit_predict(crowd.answers).reindex(truth.index)
    assert (auto.labels_ == truth).mean() >= (mv == truth).mean() - 0.005, auto.reason_


@pytest.mark.parametrize("seed", [0, 1])
def test_auto_is_not_worse_than_majority_vote_where_the_crowd_is_wrong_together(seed: int) -> None:
    # Many hard tasks on which most workers are drawn to the same wrong label, and a few answers per worker:
    # the conditions under which worker models learn the crowd's shared mistake as the truth.
    crowd = simulate_crowd(
        400, 150, judgments_per_task=3, hard_share=0.5, fooled=0.8, spammer_share=0.3, random_state=seed
    )
    auto = AutoAggregator().fit(crowd.answers)
    truth = crowd.truth.reindex(auto.labels_.index)
    mv = MajorityVote().fit_predict(crowd.answers).reindex(truth.index)
    assert (auto.labels_ == truth).mean() >= (mv == truth).mean() - 0.005, auto.reason_


@given(st.lists(st.integers(1, 7), min_size=1, max_size=40), st.integers(2, 5), st.integers(0, 1000))
def test_withheld_answers_never_take_all_of_a_tasks_answers(sizes: list[int], folds: int, seed: int) -> None:
    tasks = np.repeat(np.arange(len(sizes)), sizes)
    answers = pd.DataFrame({"task": tasks, "worker": np.arange(len(tasks)), "label": tasks % 2})
    enc = encode_answers(answers, None, None)
    fold = answer_folds(enc, folds, np.random.default_rng(seed))
    per_task = np.bincount(enc.task)
    assert (fold[per_task[enc.task] == 1] == -1).all()
    for f in range(folds):
        out = np.bincount(enc.task[fold == f], minlength=enc.n_tasks)
        assert (out < np.maximum(per_task, 2)).all()
        assert (out <= np.ceil(per_task / folds)).all()


def test_auto_refuses_fewer_than_two_folds() -> None:
    crowd = simulate_crowd(20, 5, judgments_per_task=3, random_state=0)
    with pytest.raises(UsageError, match="folds must be at least 2"):
        AutoAggregator(folds=1).fit(crowd.answers)


def test_make_aggregator_names_and_errors() -> None:
    assert isinstance(make_aggregator("ods", labels=["a"]), OneCoinDawidSkene)
    assert make_aggregator("ds", smoothing="none").get_params()["smoothing"] == "none"
    with pytest.raises(
        UsageError, match="unknown consolidation method 'em'; choose one of mv, wmv, ds, ods, glad, mace, auto"
    ):
        make_aggregator("em")
    with pytest.raises(UsageError, match="bad options for method 'mv'"):
        make_aggregator("mv", smoothing="none")


def test_the_package_exports_exactly_its_public_names() -> None:
    public = {name for name in vars(consolidate_pkg) if not name.startswith("_")}
    modules = {
        "agreement",
        "auto",
        "base",
        "calibration",
        "dawid_skene",
        "glad",
        "io",
        "mace",
        "majority_vote",
        "prior_dawid_skene",
        "selection",
        "simulate",
    }
    assert sorted(consolidate_pkg.__all__) == sorted(public - modules - {"annotations"})


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """A root with a callback, so that commands are addressed by name as in the real app."""

    register(app)
    return app


@pytest.fixture
def answers_csv(tmp_path: Path) -> Path:
    path = tmp_path / "answers.csv"
    path.write_text(
        "task,worker,label\nt1,w1,positive\nt1,w2,positive\nt1,w3,negative\nt2,w1,neutral\nt2,w2,neutral\n",
        encoding="utf-8",
    )
    return path


def test_cli_writes_task_label_confidence(cli: typer.Typer, answers_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.csv"
    result = CliRunner().invoke(
        cli,
        ["consolidate", str(answers_csv), "--method", "mv", "--out", str(out), "--labels", "positive,negative,neutral"],
    )
    assert result.exit_code == 0, result.output
    assert "Consolidated 2 task(s) from 5 judgment(s) with mv" in result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["task", "label", "confidence"]
    assert table.to_dict("records") == [
        {"task": "t1", "label": "positive", "confidence": pytest.approx(2 / 3, abs=1e-6)},
        {"task": "t2", "label": "neutral", "confidence": 1.0},
    ]


def test_cli_auto_says_what_it_chose(cli: typer.Typer, answers_csv: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["consolidate", str(answers_csv), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.output
    assert "auto → mv: no method agreed with 5 withheld answers surely more than mv" in result.output


def test_cli_bad_input_is_one_error_line_and_exit_1(cli: typer.Typer, answers_csv: Path, tmp_path: Path) -> None:
    args = ["consolidate", str(answers_csv), "--out", str(tmp_path / "o.csv"), "--labels", "positive,negative"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: answers.csv line(s) 5, 6: label 'neutral' is not one of the job's labels (positive, negative)"
    ]
    missing = CliRunner().invoke(cli, ["consolidate", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o.csv")])
    assert missing.exit_code == 2  # a missing input is a usage error, as for every command
    assert "no such file" in missing.stderr


def test_cli_unknown_method_is_a_usage_error_exit_2(cli: typer.Typer, answers_csv: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["consolidate", str(answers_csv), "--method", "em", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "unknown consolidation method 'em'" in result.stderr
    assert not (tmp_path / "o").exists()


def test_above_max_answers_the_comparison_runs_on_a_sample_of_whole_tasks() -> None:
    crowd = simulate_crowd(1500, 30, judgments_per_task=3, accuracy=(0.35, 0.95), random_state=1)
    enc = encode_answers(crowd.answers, None, None)
    candidates = [(name, lambda name=name: make_aggregator(name, **AUTO_CANDIDATES[name])) for name in ("mv", "ods")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a task left without answers would divide by zero
        method, reason, evidence = pick_by_evidence(enc, candidates, max_answers=2500, rng=np.random.default_rng(0))
    withheld = int(reason.split(" withheld answers")[0].split()[-1].replace(",", ""))
    assert 2000 < withheld < 2700 and method == "ods" and evidence["ods"].beats_floor

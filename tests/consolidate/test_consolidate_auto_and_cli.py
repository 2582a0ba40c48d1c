"""The ``auto`` rule, ``make_aggregator``, the standalone command, and the package's public surface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import groundswell.consolidate as consolidate_pkg
from groundswell.cli.consolidate import register
from groundswell.consolidate import (
    AutoAggregator,
    DawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
    make_aggregator,
    simulate_crowd,
)
from groundswell.errors import UsageError


def test_auto_uses_majority_vote_without_overlap() -> None:
    answers = pd.DataFrame({"task": range(30), "worker": np.arange(30) % 3, "label": np.arange(30) % 2})
    model = AutoAggregator().fit(answers)
    assert model.method_ == "mv"
    pd.testing.assert_frame_equal(model.probas_, MajorityVote().fit(answers).probas_)


def test_auto_uses_one_coin_for_light_workers_and_full_dawid_skene_for_heavy_ones() -> None:
    light = simulate_crowd(200, 60, judgments_per_task=3, random_state=1)  # ~10 judgments per worker
    auto = AutoAggregator().fit(light.answers)
    assert auto.method_ == "ods" and "median worker" in auto.reason_
    pd.testing.assert_frame_equal(auto.probas_, OneCoinDawidSkene().fit(light.answers).probas_)
    heavy = simulate_crowd(400, 8, judgments_per_task=3, random_state=1)  # ~150 judgments per worker
    auto = AutoAggregator().fit(heavy.answers)
    assert auto.method_ == "ds"
    expected = DawidSkene(smoothing="crowd", prior_strength=10.0).fit(heavy.answers)
    pd.testing.assert_frame_equal(auto.probas_, expected.probas_)
    assert isinstance(auto.aggregator_, DawidSkene)


def test_make_aggregator_names_and_errors() -> None:
    assert isinstance(make_aggregator("ods", labels=["a"]), OneCoinDawidSkene)
    assert make_aggregator("ds", smoothing="none").get_params()["smoothing"] == "none"
    with pytest.raises(UsageError, match="unknown consolidation method 'em'; choose one of mv, wmv, ds, ods, auto"):
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
        "io",
        "majority_vote",
        "prior_dawid_skene",
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
    assert "auto → ods" in result.output


def test_cli_bad_input_is_one_error_line_and_exit_1(cli: typer.Typer, answers_csv: Path, tmp_path: Path) -> None:
    args = ["consolidate", str(answers_csv), "--out", str(tmp_path / "o.csv"), "--labels", "positive,negative"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: answers.csv line(s) 5, 6: label 'neutral' is not one of the job's labels (positive, negative)"
    ]
    missing = CliRunner().invoke(cli, ["consolidate", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o.csv")])
    assert missing.exit_code == 1
    assert "no such file" in missing.stderr


def test_cli_unknown_method_is_a_usage_error_exit_2(cli: typer.Typer, answers_csv: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["consolidate", str(answers_csv), "--method", "em", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "unknown consolidation method 'em'" in result.stderr
    assert not (tmp_path / "o").exists()

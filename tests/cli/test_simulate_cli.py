"""`groundswell job create --auto-label …` and `groundswell simulate`, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from factories import write_jsonl
from groundswell.cli import app
from groundswell.errors import InvalidInputError
from groundswell.sim import load_pool

runner = CliRunner()
WORDS = {"positive": ["love it", "great day", "so happy"], "negative": ["hate it", "awful day", "so sad"]}


@pytest.fixture
def env(store_url: str, tmp_path: Path) -> dict[str, str]:
    return {"GROUNDSWELL_DATABASE_URL": store_url, "GROUNDSWELL_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_create_an_auto_label_job_and_simulate_it(env: dict[str, str], tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        label = "positive" if i % 2 else "negative"
        rows.append({"source": f"{WORDS[label][rng.integers(3)]} #{i}", "label": label})
    data = write_jsonl(tmp_path / "tweets.jsonl", rows)
    assert _run(env, "dataset", "import", str(data), "--name", "toy", "--label-column", "label")[0] == 0
    code, out = _run(
        env,
        "job",
        "create",
        "--dataset",
        "toy",
        "--name",
        "toy-job",
        "--labels",
        "negative,neutral,positive",
        "--workers-per-item",
        "2",
        "--auto-label",
        "--accuracy-target",
        "0.9",
        "--seed-size",
        "20",
        "--batch-size",
        "10",
        "--budget",
        "500",
    )
    assert code == 0, out
    pool = tmp_path / "pool.json"
    pool.write_text(
        json.dumps(
            {
                "labels": ["negative", "neutral", "positive"],
                "n_workers": 4,
                "accuracy_mean": 0.9,
                "accuracy_sd": 0.05,
                "spammer_share": 0,
            }
        )
    )
    report = tmp_path / "report.json"
    code, out = _run(env, "simulate", "toy-job", "--pool", str(pool), "--report", str(report))
    assert code == 0, out
    result = json.loads(report.read_text())
    expected = [
        "items",
        "human_judgments",
        "judgments_per_item",
        "machine_labeled",
        "accuracy",
        "accuracy_human",
        "accuracy_machine",
        "accuracy_target",
    ]
    assert set(expected) <= set(result)
    # 60 items is below the 1,250-item minimum: no machine labels; every tweet answered twice, a few more where
    # the answers disagree, until the estimated accuracy meets the 90 % target.
    assert (result["items"], result["machine_labeled"]) == (60, 0)
    assert 120 <= result["human_judgments"] < 150
    assert result["accuracy_target"] == 0.9 and result["accuracy"] >= 0.9
    assert "60 tweets" in out


def test_options_that_need_auto_label_and_bad_pools_are_refused(env: dict[str, str], tmp_path: Path) -> None:
    code, out = _run(env, "job", "create", "--dataset", "x", "--name", "x", "--labels", "a,b", "--budget", "10")
    assert code == 2 and "--auto-label" in out
    bad = tmp_path / "pool.json"
    bad.write_text('{"labels": ["a", "b"], "workers": [{"id": "w", "confusion": [[0.5, 0.4], [0, 1]]}]}')
    with pytest.raises(InvalidInputError, match="sum to 1"):
        load_pool(bad)
    code, out = _run(env, "simulate", "nope", "--pool", str(bad), "--report", str(tmp_path / "r.json"))
    assert code == 1 and "sum to 1" in out


def test_job_create_sets_the_redundancy_rule_and_the_model_vote(
    env: dict[str, str], tmp_path: Path, store_url: str
) -> None:
    from groundswell.jobs import get_job
    from groundswell.store import make_engine, make_session_factory

    data = write_jsonl(tmp_path / "t.jsonl", [{"source": f"tweet {i}", "label": "positive"} for i in range(5)])
    assert _run(env, "dataset", "import", str(data), "--name", "few", "--label-column", "label")[0] == 0
    base = ("job", "create", "--dataset", "few", "--labels", "negative,neutral,positive")
    code, out = _run(env, *base, "--name", "no-dyn", "--redundancy-rule", "posterior")
    assert code == 2 and "--dynamic-redundancy" in out
    dynamic = ("--workers-per-item", "1", "--max-workers-per-item", "3", "--dynamic-redundancy")
    posterior = (*dynamic, "--redundancy-rule", "posterior", "--auto-label")
    assert _run(env, *base, "--name", "post", *posterior)[0] == 0
    assert _run(env, *base, "--name", "post-off", *posterior, "--no-model-vote")[0] == 0
    assert _run(env, *base, "--name", "vote", *dynamic, "--redundancy-rule", "vote")[0] == 0
    code, out = _run(env, *base, "--name", "bad", *dynamic, "--redundancy-rule", "magic")
    assert code != 0 and "redundancy_rule" in out
    engine = make_engine(store_url)
    with make_session_factory(engine)() as session:
        settings = {name: get_job(session, name).settings for name in ("post", "post-off", "vote")}
    engine.dispose()
    assert settings["post"]["redundancy_rule"] == "posterior" and settings["post"]["model_vote"] is True
    assert settings["post-off"]["model_vote"] is False
    assert settings["vote"]["redundancy_rule"] == "vote" and "model_vote" not in settings["vote"]


def test_an_accuracy_target_alone_turns_on_what_meets_it_cheaply(
    env: dict[str, str], tmp_path: Path, store_url: str
) -> None:
    from groundswell.jobs import get_job
    from groundswell.store import make_engine, make_session_factory

    data = write_jsonl(tmp_path / "t.jsonl", [{"source": f"tweet {i}", "label": "positive"} for i in range(5)])
    assert _run(env, "dataset", "import", str(data), "--name", "few", "--label-column", "label")[0] == 0
    base = ("job", "create", "--dataset", "few", "--labels", "negative,neutral,positive")
    code, out = _run(env, *base, "--name", "target", "--accuracy-target", "0.9")
    assert code == 0 and "1 answer(s) each, up to 5, accuracy target 90%" in out
    assert _run(env, *base, "--name", "two", "--accuracy-target", "0.9", "--workers-per-item", "2")[0] == 0
    assert _run(env, *base, "--name", "gt", "--preset", "ground-truth")[0] == 0
    assert _run(env, *base, "--name", "plain")[0] == 0
    code, out = _run(env, *base, "--name", "bad", "--preset", "mturk")
    assert code != 0 and "preset" in out
    code, out = _run(env, *base, "--name", "bad", "--accuracy-target", "1.5")
    assert code != 0 and "accuracy_target" in out
    code, out = _run(env, *base, "--name", "checked", "--accuracy-target", "0.9", "--gold-items", "2")
    assert code == 0 and "2 gold" in out
    code, out = _run(env, *base, "--name", "bad", "--gold-items", "3")
    assert code != 0 and "at most half of the job's 5 items" in out
    engine = make_engine(store_url)
    with make_session_factory(engine)() as session:
        jobs = {name: get_job(session, name) for name in ("target", "two", "gt", "plain", "checked")}
        shapes = {n: (j.workers_per_item, j.max_workers_per_item, dict(j.settings)) for n, j in jobs.items()}
    engine.dispose()
    per_item, maximum, settings = shapes["target"]
    assert (per_item, maximum) == (1, 5)
    assert settings["redundancy_rule"] == "target" and settings["dynamic_redundancy"] is True
    assert settings["auto_label"] is True and settings["accuracy_target"] == 0.9 and settings["model_vote"] is True
    assert shapes["two"][:2] == (2, 5) and shapes["two"][2]["redundancy_rule"] == "target"
    per_item, maximum, settings = shapes["gt"]
    assert (per_item, maximum) == (3, 3)
    assert settings["threshold_rule"] == "point" and settings["accuracy_target"] == 0.95
    assert "dynamic_redundancy" not in settings
    assert shapes["plain"][:2] == (3, 3) and "auto_label" not in shapes["plain"][2]
    assert shapes["checked"][2]["gold_items"] == 2 and "gold_items" not in shapes["target"][2]

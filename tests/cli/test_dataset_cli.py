"""The CLI as a user meets it: exit codes 0 / 1 (rejected input) / 2 (usage), and readable output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factories import write_jsonl
from groundswell.cli import app
from groundswell.store.db import head_revision

runner = CliRunner()


@pytest.fixture
def env(store_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "GROUNDSWELL_DATABASE_URL": store_url,
        "GROUNDSWELL_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "200",
    }


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_import_list_show_export(env: dict[str, str], tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"source": "great phone", "label": "positive"},
            {"source": "awful", "label": "negative"},
            {"source": "ok"},
        ],
    )
    code, out = _run(env, "dataset", "import", str(path), "--name", "phones", "--label-column", "label")
    assert code == 0, out
    assert "Created dataset phones: imported 3 of 3 rows" in out
    code, out = _run(env, "dataset", "list")
    assert code == 0 and "phones" in out
    code, out = _run(env, "dataset", "show", "phones")
    assert code == 0, out
    assert "3 items, 2 with a gold label" in out and "positive" in out and "great phone" in out
    target = tmp_path / "out.jsonl"
    code, out = _run(env, "dataset", "export", "phones", "--out", str(target))
    assert code == 0 and "Wrote 3 lines" in out
    assert [json.loads(x)["source"] for x in target.read_text().splitlines()] == [
        "great phone",
        "awful",
        "ok",
    ]


def test_rejected_input_exits_1_and_names_file_and_line(env: dict[str, str], tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"source": "fine"}, "{nope"])
    code, out = _run(env, "dataset", "import", str(path), "--name", "d")
    assert code == 1
    assert f"{path}:2: invalid JSON" in out
    assert "nothing was imported" in out
    code, out = _run(env, "dataset", "list")
    assert "No datasets yet" in out


def test_a_line_over_the_limit_exits_1_naming_file_line_and_limit(env: dict[str, str], tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", [{"source": "kept"}])
    assert _run(env, "dataset", "import", str(first), "--name", "d")[0] == 0
    path = write_jsonl(tmp_path / "big.jsonl", [{"source": "fine"}, {"source": "x" * 2000}])
    code, out = _run({**env, "GROUNDSWELL_MAX_LINE_BYTES": "1024"}, "dataset", "import", str(path), "--name", "d")
    assert code == 1, out
    assert f"{path}:2: line is over the limit of 1,024 bytes (GROUNDSWELL_MAX_LINE_BYTES)" in out
    code, out = _run(env, "dataset", "show", "d")
    assert code == 0 and "d: 1 items" in out


def test_skip_invalid_writes_a_report_under_the_data_dir(env: dict[str, str], tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"source": "fine"}, "{nope"])
    code, out = _run(env, "dataset", "import", str(path), "--name", "d", "--skip-invalid")
    assert code == 0, out
    assert "Rejected 1 invalid row(s)" in out
    (report,) = (Path(env["GROUNDSWELL_DATA_DIR"]) / "import-reports").iterdir()
    assert json.loads(report.read_text())["line"] == 2


@pytest.mark.parametrize(
    "args",
    [
        ["dataset", "import", "/no/such/file.jsonl", "--name", "d"],
        ["dataset", "import", "x.jsonl"],
        ["dataset", "show", "absent"],
        ["dataset", "frobnicate"],
    ],
)
def test_usage_errors_exit_2(env: dict[str, str], args: list[str]) -> None:
    code, _ = _run(env, *args)
    assert code == 2


def test_db_upgrade_reports_the_revision(env: dict[str, str]) -> None:
    head = head_revision()
    code, out = _run(env, "db", "upgrade")
    assert code == 0 and f"→ {head}" in out
    code, out = _run(env, "db", "upgrade")
    assert code == 0 and f"already at revision {head}" in out


def test_demo_imports_the_bundled_sample_once(env: dict[str, str]) -> None:
    code, out = _run(env, "demo", "--no-serve")
    assert code == 0, out
    assert "Imported 303 sample tweets" in out
    assert "Created and started job demo-sentiment" in out
    assert out.count("/invite/") == 3 and "gs_" in out
    code, out = _run(env, "demo", "--no-serve")
    assert code == 0 and "already imported" in out and "exists (running)" in out


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("groundswell")
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"}
    )
    assert result.returncode == 0
    assert "dataset" in result.stdout and "demo" in result.stdout

"""One exit-code rule for every command (README: 0 success, 1 rejected input, 2 usage: unknown option, missing
file, unknown dataset or job, a database that cannot be reached), and one clean line instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from groundswell.cli import app
from servers import free_port

runner = CliRunner()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "ok.jsonl").write_text('{"source": "hello"}\n', encoding="utf-8")
    (tmp_path / "bad.jsonl").write_text("not json\n", encoding="utf-8")
    (tmp_path / "answers.csv").write_text("task,worker,label\n1,a,x\n", encoding="utf-8")
    return tmp_path


def _run(folder: Path, *args: str, database_url: str | None = None) -> tuple[int, str]:
    env = {"GROUNDSWELL_DATA_DIR": str(folder / "data")}
    if database_url:
        env["GROUNDSWELL_DATABASE_URL"] = database_url
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, " ".join(result.output.split())  # Rich wraps lines to the test terminal's width


MISSING_FILES = [
    ("dataset", "import", "{f}/missing.jsonl", "--name", "x"),
    ("consolidate", "{f}/missing.csv", "--out", "{f}/o.csv"),
    ("train", "--manifest", "{f}/missing.jsonl", "--out", "{f}/m"),
    ("predict", "{f}/no-model", "{f}/ok.jsonl", "--out", "{f}/p.jsonl"),
    ("endpoint", "serve", "{f}/no-model"),
    ("db", "restore", "{f}/missing.db", "--yes"),
]
UNKNOWN_NAMES = [
    ("dataset", "show", "nope"),
    ("dataset", "export", "nope", "--out", "{f}/o.jsonl"),
    ("job", "show", "nope"),
    ("job", "start", "nope"),
    ("job", "export", "nope", "--out", "{f}/o.manifest"),
    ("job", "create", "--name", "j", "--dataset", "nope", "--labels", "a,b"),
]
REJECTED = [
    ("dataset", "import", "{f}/bad.jsonl", "--name", "x"),
    ("consolidate", "{f}/bad.jsonl", "--out", "{f}/o.csv"),
    ("train", "--manifest", "{f}/bad.jsonl", "--out", "{f}/m"),
    ("worker", "invite", "not-an-email"),
    ("admin", "create", "not-an-email"),
]


@pytest.mark.parametrize("args", MISSING_FILES + UNKNOWN_NAMES, ids=lambda a: " ".join(a[:2]))
def test_missing_files_and_unknown_names_are_usage_errors(folder: Path, args: tuple[str, ...]) -> None:
    code, output = _run(folder, *(a.format(f=folder) for a in args))
    assert code == 2, output
    assert "Error:" in output and "Traceback" not in output


def test_a_missing_pool_file_is_a_usage_error_too(folder: Path) -> None:
    assert _run(folder, "dataset", "import", str(folder / "ok.jsonl"), "--name", "d")[0] == 0
    assert _run(folder, "job", "create", "--name", "j", "--dataset", "d", "--labels", "a,b")[0] == 0
    code, output = _run(folder, "simulate", "j", "--pool", str(folder / "missing.json"), "--report", "r.json")
    assert code == 2 and "no such pool file" in output


@pytest.mark.parametrize("args", REJECTED, ids=lambda a: " ".join(a[:2]))
def test_rejected_input_exits_1(folder: Path, args: tuple[str, ...]) -> None:
    code, output = _run(folder, *(a.format(f=folder) for a in args))
    assert code == 1, output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "args",
    [
        ("job", "show", "j"),
        ("dataset", "import", "{f}/ok.jsonl", "--name", "d"),
        ("db", "upgrade"),
        ("runner", "--once"),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_an_unreachable_database_is_one_line_not_a_traceback(folder: Path, args: tuple[str, ...]) -> None:
    """Nothing listens on the port: the driver's reason in one line, exit 2, as for a missing file."""
    url = f"postgresql+psycopg://nobody:secret@127.0.0.1:{free_port()}/nothing"
    code, output = _run(folder, *(a.format(f=folder) for a in args), database_url=url)
    assert code == 2, output
    assert "cannot reach the database" in output and "Traceback" not in output
    assert "secret" not in output  # the password in the URL is never printed

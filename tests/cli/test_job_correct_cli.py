"""`groundswell job correct`: an admin's correction of a label from the command line, recorded as the store's
command-line admin or the admin named with --by, reverted with --revert, on each database."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from factories import answer, make_workers, take, write_jsonl
from groundswell.cli import app
from groundswell.jobs import NoTask
from groundswell.store import make_engine, make_session_factory
from groundswell.store.tables import LabelAdjudication, Worker

runner = CliRunner()


def _run(store_url: str, folder: Path, *args: str) -> tuple[int, str]:
    env = {"GROUNDSWELL_DATABASE_URL": store_url, "GROUNDSWELL_DATA_DIR": str(folder / "data")}
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, " ".join(result.output.split())


def _history(store_url: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """(admin's name, label, previous label, note) of every correction and revert, oldest first."""
    engine = make_engine(store_url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(
                select(Worker.display_name, LabelAdjudication.label, LabelAdjudication.previous_label)
                .add_columns(LabelAdjudication.note)
                .join(Worker, Worker.id == LabelAdjudication.worker_id)
                .order_by(LabelAdjudication.id)
            ).all()
            return [(name, label, previous, note) for name, label, previous, note in rows]
    finally:
        engine.dispose()


def test_a_label_is_corrected_and_reverted_from_the_command_line(store_url: str, tmp_path: Path) -> None:
    tweets = write_jsonl(tmp_path / "t.jsonl", [{"source": f"tweet {i}", "id": str(i)} for i in range(3)])
    code, out = _run(store_url, tmp_path, "dataset", "import", str(tweets), "--name", "launch", "--id-column", "id")
    assert code == 0, out
    code, out = _run(
        store_url, tmp_path, "job", "create", "--dataset", "launch", "--name", "brand", "--labels", "pos,neg",
        "--workers-per-item", "1", "--start",
    )  # fmt: skip
    assert code == 0, out
    engine = make_engine(store_url)
    try:
        factory = make_session_factory(engine)
        (worker,) = make_workers(factory, 1)
        while not isinstance(task := take(factory, "brand", worker), NoTask):
            answer(factory, worker, task, "pos")
    finally:
        engine.dispose()

    code, out = _run(store_url, tmp_path, "job", "correct", "brand", "1", "neg", "--note", "sarcasm")
    assert code == 0 and "Corrected 1 in job brand: neg (adjudicated)." in out, out
    assert _run(store_url, tmp_path, "admin", "create", "boss@example.org", "--name", "Boss")[0] == 0
    code, out = _run(store_url, tmp_path, "job", "correct", "brand", "2", "neg", "--by", "boss@example.org")
    assert code == 0, out
    code, out = _run(store_url, tmp_path, "job", "export", "brand", "--out", str(tmp_path / "out.manifest"))
    assert code == 0, out
    lines = [json.loads(x) for x in (tmp_path / "out.manifest").read_text(encoding="utf-8").splitlines()]
    assert [(x["brand-metadata"]["class-name"], x["brand-metadata"].get("adjudicated")) for x in lines] == [
        ("pos", None), ("neg", "yes"), ("neg", "yes"),
    ]  # fmt: skip
    code, out = _run(store_url, tmp_path, "job", "correct", "brand", "1", "--revert")
    assert code == 0 and "Reverted 1 in job brand: back to pos (mv); a consolidation is queued." in out, out
    assert _history(store_url) == [
        ("command line", "neg", "pos", "sarcasm"),
        ("Boss", "neg", "pos", None),
        ("command line", None, "neg", None),
    ]

    code, out = _run(store_url, tmp_path, "job", "correct", "brand", "1", "--revert")
    assert code == 1 and "no correction to revert" in out, out
    code, out = _run(store_url, tmp_path, "job", "correct", "brand", "1", "angry")
    assert code == 1 and "'angry' is not one of the labels of job 'brand': pos, neg" in out, out
    code, out = _run(store_url, tmp_path, "job", "correct", "brand", "9", "neg")
    assert code == 2 and "job 'brand' has no item '9'" in out, out
    code, out = _run(store_url, tmp_path, "job", "correct", "brand", "1", "neg", "--by", "nobody@example.org")
    assert code == 2 and "no admin with email" in out, out
    for args in (("1", "neg", "--revert"), ("1",)):
        code, out = _run(store_url, tmp_path, "job", "correct", "brand", *args)
        assert code == 2 and "LABEL, or --revert" in out, out
    assert len(_history(store_url)) == 3  # nothing refused was recorded

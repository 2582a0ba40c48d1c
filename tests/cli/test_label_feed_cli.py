"""`job create --webhook`, `job webhook add|list|remove`, `job export --since` and `runner --once` delivering
(issue 16, item 2), on each database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from factories import answer, make_workers, take, write_jsonl
from groundswell.cli import app
from groundswell.jobs import NoTask
from groundswell.store import make_engine, make_session_factory
from receiver import Receiver

runner = CliRunner()


def _run(store_url: str, folder: Path, *args: str) -> tuple[int, str]:
    env = {"GROUNDSWELL_DATABASE_URL": store_url, "GROUNDSWELL_DATA_DIR": str(folder / "data")}
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _answer_all(factory: sessionmaker[Session], job: str) -> None:
    (worker,) = make_workers(factory, 1)
    while not isinstance(task := take(factory, job, worker), NoTask):
        answer(factory, worker, task, "pos")


def test_webhooks_from_the_cli_and_the_feed_exported_since_a_cursor(
    store_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    tweets = write_jsonl(tmp_path / "t.jsonl", [{"source": f"tweet {i}", "id": str(i)} for i in range(3)])
    assert _run(store_url, tmp_path, "dataset", "import", str(tweets), "--name", "launch")[0] == 0
    code, out = _run(
        store_url, tmp_path, "job", "create", "--dataset", "launch", "--name", "hooked", "--labels", "pos,neg",
        "--workers-per-item", "1", "--webhook", receiver.url, "--start",
    )  # fmt: skip
    assert code == 0 and "Webhooks: 1" in out, out
    secret = re.search(r"secret ([0-9a-f]{64})", out)
    assert secret is not None, out
    code, out = _run(store_url, tmp_path, "job", "webhook", "add", "hooked", "ftp://nope")
    assert code != 0 and "webhook url" in out, out

    engine = make_engine(store_url)
    try:
        _answer_all(make_session_factory(engine), "hooked")
    finally:
        engine.dispose()
    code, out = _run(store_url, tmp_path, "runner", "--once")
    assert code == 0 and "webhook deliveries: 3 delivered, 0 to retry" in out, out
    assert sorted(line["source"] for line in receiver.lines()) == ["tweet 0", "tweet 1", "tweet 2"]
    code, out = _run(store_url, tmp_path, "job", "webhook", "list", "hooked")
    assert code == 0 and "│ 1 │ http://127.0.0.1:" in out and "│ 3 │ 0 │ 204 │" in out and secret.group(1) in out, out

    code, out = _run(store_url, tmp_path, "job", "export", "hooked", "--since", "0", "--out", str(tmp_path / "a.jsonl"))
    assert code == 0 and "Wrote 3 label(s) final after 0" in out, out
    cursor = re.search(r"next since: (\d+)", out)
    assert cursor is not None
    lines = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [x["hooked-metadata"]["class-name"] for x in lines] == ["pos"] * 3
    code, out = _run(
        store_url, tmp_path, "job", "export", "hooked", "--since", cursor.group(1), "--out", str(tmp_path / "b.jsonl")
    )
    assert code == 0 and "Wrote 0 label(s)" in out and f"next since: {cursor.group(1)}" in out, out
    code, out = _run(store_url, tmp_path, "job", "export", "hooked", "--since", "0", "--format", "csv", "--out", "x")
    assert code != 0 and "--since writes the output manifest only" in out, out

    code, out = _run(store_url, tmp_path, "job", "webhook", "remove", "hooked", "1")
    assert code == 0, out
    code, out = _run(store_url, tmp_path, "job", "webhook", "list", "hooked")
    assert "has no webhooks" in out, out

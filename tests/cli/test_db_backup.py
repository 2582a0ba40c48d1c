"""`groundswell db backup` / `db restore` as an operator meets them, on SQLite and PostgreSQL: a round trip
gives back exactly what was backed up, and a file that is not a backup is refused before anything changes."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from factories import answer, make_dataset, make_job, make_workers, take
from groundswell.cli import app
from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, make_session_factory, transaction
from groundswell.store.backup import pg_tool
from groundswell.store.tables import Item

runner = CliRunner()


@pytest.fixture
def env(store_url: str, tmp_path: Path) -> dict[str, str]:
    return {"GROUNDSWELL_DATABASE_URL": store_url, "GROUNDSWELL_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "300"}


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (alembic_version included), in primary-key order."""
    engine = make_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return {
                name: [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key.columns))]
                for name, table in sorted(metadata.tables.items())
            }
    finally:
        engine.dispose()


def _fill(factory: sessionmaker[Session]) -> None:
    """A dataset, a running job, annotators and some answers: rows in most tables, sequences moved on."""
    dataset = make_dataset(factory, "launch", count=6)
    job = make_job(factory, dataset, "launch-sentiment")
    for worker in make_workers(factory, 2):
        answer(factory, worker, take(factory, job, worker), label="negative")


def _change(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        session.execute(update(Item).values(text="overwritten"))
    make_dataset(factory, "added-later", count=2)
    worker = make_workers(factory, 1, team="late")[0]
    answer(factory, worker, take(factory, "launch-sentiment", worker))


def test_round_trip_gives_back_exactly_what_was_backed_up(
    env: dict[str, str], store_url: str, engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _fill(factory)
    before = _snapshot(store_url)
    assert before["items"] and before["judgments"] and before["alembic_version"]
    target = tmp_path / "backups" / "store.backup"

    code, out = _run(env, "db", "backup", str(target))
    assert code == 0, out
    assert f"to {target} (" in out and "kB)" in out
    assert target.stat().st_size > 0

    _change(factory)
    assert _snapshot(store_url) != before
    engine.dispose()  # the test's own pool would count as a connected client on PostgreSQL

    code, out = _run(env, "db", "restore", str(target), "--yes")
    assert code == 0, out
    assert f"Restored {target}" in out and "schema now at" in out
    assert _snapshot(store_url) == before

    # Ids go on from where the backup left them (PostgreSQL's sequences come back with the data).
    after = make_engine(store_url)
    try:
        make_dataset(make_session_factory(after), "after-restore", count=1)
    finally:
        after.dispose()
    assert len(_snapshot(store_url)["datasets"]) == len(before["datasets"]) + 1


def test_sqlite_backup_is_consistent_while_a_writer_holds_a_transaction_open(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    prepare_store(engine)
    factory = make_session_factory(engine)
    make_dataset(factory, "committed", count=3)
    env = {"GROUNDSWELL_DATABASE_URL": sqlite_url, "GROUNDSWELL_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "300"}
    target = tmp_path / "online.db"
    with factory() as session, session.begin():
        session.execute(update(Item).values(text="not committed yet"))
        code, out = _run(env, "db", "backup", str(target))  # the server's writer is mid-transaction
        assert code == 0, out
    engine.dispose()

    copy = sqlite3.connect(target)
    try:
        assert {text for (text,) in copy.execute("SELECT text FROM items")} == {"tweet 0", "tweet 1", "tweet 2"}
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one self-contained file
    finally:
        copy.close()
    assert not Path(f"{target}-wal").exists()


def _foreign_sqlite(path: Path) -> Path:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE notes (body TEXT)")
    connection.commit()
    connection.close()
    return path


def test_restore_refuses_what_is_not_a_backup_and_changes_nothing(
    env: dict[str, str], store_url: str, engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _fill(factory)
    engine.dispose()
    before = _snapshot(store_url)
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database\n")
    foreign = _foreign_sqlite(tmp_path / "other.db")
    truncated = tmp_path / "truncated.db"
    _run(env, "db", "backup", str(tmp_path / "good.db"))
    truncated.write_bytes((tmp_path / "good.db").read_bytes()[:3000])
    sqlite_store = store_url.startswith("sqlite")

    refusals = {
        junk: "not a Groundswell backup (neither an SQLite database nor a pg_dump custom-format archive)",
        foreign: "not a Groundswell backup (an SQLite database without alembic_version)"
        if sqlite_store
        else "an SQLite backup, but the store is PostgreSQL",
    }
    if sqlite_store:
        refusals[truncated] = "not a readable SQLite database"
    for path, message in refusals.items():
        code, out = _run(env, "db", "restore", str(path), "--yes")
        assert code == 1, out
        (line,) = out.strip().splitlines()
        assert line.startswith(f"Error: {path}: {message}"), line

    code, out = _run(env, "db", "restore", str(tmp_path / "missing.db"), "--yes")
    assert (code, out.strip()) == (2, f"Error: {tmp_path / 'missing.db'}: no such file")

    # A real backup, but nobody said yes (stdin closed, as under cron): nothing happens either.
    code, out = _run(env, "db", "restore", str(tmp_path / "good.db"))
    assert code == 1 and out.strip().endswith("Nothing was restored.")

    assert _snapshot(store_url) == before


def test_postgres_restore_refuses_an_archive_of_another_database(postgres_url: str, tmp_path: Path) -> None:
    engine = make_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (body text)"))
    engine.dispose()
    archive = tmp_path / "other.dump"
    url = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run([pg_tool("pg_dump"), "--format=custom", f"--file={archive}", url], check=True)
    env = {"GROUNDSWELL_DATABASE_URL": postgres_url, "GROUNDSWELL_DATA_DIR": str(tmp_path), "COLUMNS": "300"}

    code, out = _run(env, "db", "restore", str(archive), "--yes")
    assert code == 1, out
    assert out.strip() == f"Error: {archive}: not a Groundswell backup (a pg_dump archive without alembic_version)"
    assert "notes" in _snapshot(postgres_url) and "alembic_version" not in _snapshot(postgres_url)


def test_postgres_restore_waits_for_other_clients_to_go_unless_forced(postgres_url: str, tmp_path: Path) -> None:
    engine = make_engine(postgres_url)
    prepare_store(engine)
    factory = make_session_factory(engine)
    make_dataset(factory, "kept", count=2)
    env = {"GROUNDSWELL_DATABASE_URL": postgres_url, "GROUNDSWELL_DATA_DIR": str(tmp_path), "COLUMNS": "300"}
    target = tmp_path / "store.dump"
    assert _run(env, "db", "backup", str(target))[0] == 0
    make_dataset(factory, "added", count=1)

    with engine.connect():  # a server still connected
        code, out = _run(env, "db", "restore", str(target), "--yes")
        assert code == 1, out
        assert "1 other client(s) are connected" in out and "Nothing was restored." in out
        assert len(_snapshot(postgres_url)["datasets"]) == 2

        code, out = _run(env, "db", "restore", str(target), "--yes", "--force")
        assert code == 0, out
    engine.dispose()
    assert [row[1] for row in _snapshot(postgres_url)["datasets"]] == ["kept"]

"""Backups of the whole store and their restore, with each database's own tools.

SQLite: the online backup API (``sqlite3.Connection.backup``) copies a consistent snapshot while the server
keeps writing (in WAL mode a reader never blocks the writer), and restores by copying a backup *into* the
live database in one write transaction, so other connections see either the old content or the new, never
a half-copied file. PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean --if-exists
--single-transaction``, so a restore that fails half-way changes nothing.

A file is restored only when it is a Groundswell backup of the store's kind (an SQLite file or a pg_dump
archive holding ``alembic_version``) at a schema revision this version knows: anything else is refused
before the live data is touched. Bringing the restored schema up to date is the caller's job (the CLI runs
``prepare_store``), since the store layer must not import the use cases that define the server functions.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from groundswell.errors import GroundswellError, InvalidInputError, UsageError
from groundswell.store.db import alembic_config

__all__ = ["BackupFile", "backup", "check_backup", "other_sessions", "pg_tool", "restore"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_MAGIC = b"PGDMP"
_PG_BIN_ROOT = Path("/usr/lib/postgresql")
_PG_VERSION = re.compile(r"(\d+)")


@dataclass(frozen=True)
class BackupFile:
    path: Path
    size: int
    #: The schema revision the backup holds.
    revision: str


def backup(engine: Engine, path: Path) -> BackupFile:
    """Write a backup of the store to ``path`` (replaced only once the new backup is complete)."""
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give the backup file's path")
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if engine.dialect.name == "sqlite":
            _sqlite_backup(engine, partial)
        else:
            _run_pg(
                "pg_dump", "--format=custom", f"--file={partial}", f"--dbname={_conninfo(engine.url)}", url=engine.url
            )
        revision = check_backup(engine, partial)
        os.replace(partial, path)
    except (OSError, sqlite3.Error) as exc:
        raise GroundswellError(f"{path}: backup failed, nothing written ({exc})") from exc
    finally:
        partial.unlink(missing_ok=True)
    return BackupFile(path, path.stat().st_size, revision)


def check_backup(engine: Engine, path: Path) -> str:
    """The schema revision of the backup at ``path``; raises unless the store could be restored from it."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror})") from exc
    kind = "sqlite" if head.startswith(_SQLITE_MAGIC) else "postgresql" if head.startswith(_PG_MAGIC) else None
    if kind is None:
        raise InvalidInputError(
            f"{path}: not a Groundswell backup (neither an SQLite database nor a pg_dump custom-format archive)"
        )
    if kind != engine.dialect.name:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        article = "an" if kind == "sqlite" else "a"
        store = names.get(engine.dialect.name, engine.dialect.name)
        raise InvalidInputError(f"{path}: {article} {names[kind]} backup, but the store is {store}")
    revision = _sqlite_revision(path) if kind == "sqlite" else _pg_revision(path, engine.url)
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    if revision not in {s.revision for s in script.walk_revisions()}:
        raise InvalidInputError(
            f"{path}: schema revision {revision!r} is unknown to this version of Groundswell (made by a newer one?)"
        )
    return revision


def other_sessions(engine: Engine) -> int:
    """How many other clients are connected to the store's database (PostgreSQL; 0 on SQLite, which cannot
    tell): a restore under a running server or runner would pull the data out from under them."""
    if engine.dialect.name != "postgresql":
        return 0
    with engine.connect() as connection:
        count = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        )
    return int(count or 0)


def restore(engine: Engine, path: Path) -> BackupFile:
    """Replace everything in the store with the backup at ``path``, after checking it is one."""
    revision = check_backup(engine, path)
    if engine.dialect.name == "sqlite":
        _sqlite_restore(engine, path)
    else:
        _run_pg(
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={_conninfo(engine.url)}",
            str(path),
            url=engine.url,
        )
    return BackupFile(path, path.stat().st_size, revision)


# --- SQLite -----------------------------------------------------------------------------------------------


def _sqlite_file(engine: Engine) -> str:
    database = engine.url.database
    if not database or database == ":memory:":
        raise UsageError("the store is an in-memory SQLite database; there is no file to back up or restore")
    return database


def _readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)


def _sqlite_backup(engine: Engine, target: Path) -> None:
    _sqlite_file(engine)
    live = engine.raw_connection()
    try:
        copy = sqlite3.connect(target)
        try:
            live.driver_connection.backup(copy)  # type: ignore[union-attr]
            # The copy inherits the live file's WAL flag; one self-contained file is what a backup should be.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        live.close()


def _sqlite_revision(path: Path) -> str:
    try:
        source = _readonly(path)
        try:
            (check,) = source.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise InvalidInputError(f"{path}: damaged SQLite database ({check})")
            found = source.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
            if found is None:
                raise InvalidInputError(
                    f"{path}: not a Groundswell backup (an SQLite database without alembic_version)"
                )
            row = source.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            source.close()
    except sqlite3.DatabaseError as exc:
        raise InvalidInputError(f"{path}: not a readable SQLite database ({exc})") from exc
    if row is None:
        raise InvalidInputError(f"{path}: not a Groundswell backup (alembic_version is empty)")
    return str(row[0])


def _sqlite_restore(engine: Engine, path: Path) -> None:
    _sqlite_file(engine)
    source = _readonly(path)
    try:
        live = engine.raw_connection()
        try:
            source.backup(live.driver_connection)  # type: ignore[arg-type]
        except sqlite3.Error as exc:
            raise GroundswellError(f"restoring {path} failed; the store is unchanged ({exc})") from exc
        finally:
            live.close()
    finally:
        source.close()


# --- PostgreSQL -------------------------------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """``name`` from PATH, else from the newest of Debian's ``/usr/lib/postgresql/<version>/bin``."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        _PG_BIN_ROOT.glob(f"*/bin/{name}"),
        key=lambda p: int(m.group(1)) if (m := _PG_VERSION.match(p.parent.parent.name)) else 0,
    )
    if candidates:
        return str(candidates[-1])
    raise GroundswellError(
        f"{name} not found on PATH or in {_PG_BIN_ROOT}/*/bin; install PostgreSQL's client programs "
        "(apt-get install postgresql-client)"
    )


def _conninfo(url: URL) -> str:
    """A libpq URI for the store; the password travels in PGPASSWORD, never on a command line."""
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _run_pg(tool: str, *args: str, url: URL) -> str:
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    result = subprocess.run([pg_tool(tool), *args], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise GroundswellError(f"{tool} failed: {' / '.join(lines[-3:]) or f'exit {result.returncode}'}")
    return result.stdout


def _pg_revision(path: Path, url: URL) -> str:
    try:
        listing = _run_pg("pg_restore", "--list", str(path), url=url)
    except GroundswellError as exc:
        raise InvalidInputError(f"{path}: not a readable pg_dump archive ({exc})") from exc
    if not re.search(r"\bTABLE DATA \S+ alembic_version\b", listing):
        raise InvalidInputError(f"{path}: not a Groundswell backup (a pg_dump archive without alembic_version)")
    data = _run_pg("pg_restore", "--data-only", "--table=alembic_version", "--file=-", str(path), url=url)
    match = re.search(r"^COPY \S*alembic_version \(version_num\) FROM stdin;\n([^\n\\]+)\n", data, re.MULTILINE)
    if match is None:
        raise InvalidInputError(f"{path}: not a Groundswell backup (alembic_version is empty)")
    return match.group(1)

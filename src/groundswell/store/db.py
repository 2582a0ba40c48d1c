"""Engines, sessions and schema upgrades for SQLite and PostgreSQL.

SQLite is the embedded default: it runs in WAL mode (readers never block the one writer) with foreign keys
enforced, and ``BEGIN IMMEDIATE`` so a write transaction takes the write lock up front instead of failing
half-way with "database is locked". A read-only unit of work (:func:`read_transaction`) begins ``DEFERRED``
instead: it never takes the write lock, so the background runner can read what a long computation needs
without making every web request wait behind it.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "alembic_config",
    "current_revision",
    "head_revision",
    "make_engine",
    "make_session_factory",
    "read_transaction",
    "transaction",
    "upgrade",
]

_MIGRATIONS = Path(__file__).parent / "migrations"
_sqlite_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
#: A pooled server connection idle longer than this is checked with a ping before it is handed out.
IDLE_PING_S = 10.0
#: Execution option that marks a connection's transactions read-only (:func:`read_transaction`).
_READ_ONLY = "groundswell_read_only"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Build an engine; for SQLite, create the parent folder and set WAL + foreign keys on every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, **kwargs)
        _ping_idle_connections(engine)
        return engine
    database = parsed.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself (below), so we can make it IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Up to 64 MiB of page cache (default 2 MiB), used only as a database grows: keeps the index pages that
        # large imports and duplicate checks touch in memory.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A read-only transaction (read_transaction) must not take the write lock: in WAL mode it reads a
        # snapshot while the one writer goes on.
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

    _sqlite_locks[engine] = threading.Lock()
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled connection before reuse only when it sat idle for a while.

    Why not ``pool_pre_ping``: it pings on every checkout, one more network round trip and statement on
    every request, and an annotator's answer now takes only about six. Connections in steady use cannot have
    gone stale unnoticed (a broken one raises and SQLAlchemy discards it, and the pool with it when the
    server restarted); the ones at risk are those idle long enough for the server, a proxy or a firewall to
    drop them, and those still get the ping.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_S:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as exc:  # any failure means a dead connection: the pool retries with a fresh one
            raise DisconnectionError(str(exc)) from exc


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any exception.

    On SQLite, threads of one process take turns through an in-process lock before they ask SQLite for its
    write lock: SQLite's own busy handler waits by sleeping (up to 100 ms a try), which under load turns
    milliseconds of work into seconds of latency.
    """
    bind = factory.kw.get("bind")
    lock = _sqlite_locks.get(bind) if isinstance(bind, Engine) else None
    if lock is None:
        with factory() as session, session.begin():
            yield session
        return
    with lock, factory() as session, session.begin():
        yield session


@contextmanager
def read_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that only reads, from one consistent snapshot, and never waits for or blocks a writer.

    Why: the runner reads what a long computation (a round's training, a Dawid–Skene fit) needs, computes
    with no transaction open, then writes in a short :func:`transaction`. On SQLite every write transaction
    begins ``IMMEDIATE`` and so holds the one write lock from its first statement; reading there would make
    every web request wait for the whole computation. This one begins ``DEFERRED`` (in WAL mode a reader
    sees the snapshot of its first read and takes no write lock) and skips the in-process writers' lock. On
    PostgreSQL it is ``REPEATABLE READ``, so its several queries see one snapshot too (a read-only
    transaction there never fails to serialise). Nothing is written: it is rolled back at the end.
    """
    bind = factory.kw.get("bind")
    if isinstance(bind, Engine):
        options: dict[str, Any] = (
            {_READ_ONLY: True} if bind.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
        )
        bind = bind.execution_options(**options)
    with factory(bind=bind) as session:
        session.begin()
        try:
            yield session
        finally:
            session.rollback()


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations; no alembic.ini needed at run time."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest), reusing the given engine's connection."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()

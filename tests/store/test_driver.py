"""The hot path's driver: statements in each database's dialect, grouped writes, errors as SQLAlchemy's.

``Driver.writes`` turns several changes into one statement of data-modifying CTEs on PostgreSQL (and runs
them one by one on SQLite): the same parameter name in two statements must stay apart, the first
``RETURNING`` rows come back, and reads sent after the writes see their effects.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from groundswell.store.db import transaction
from groundswell.store.driver import Driver, Sql

CREATE = [
    "CREATE TABLE counters (id INTEGER PRIMARY KEY, value INTEGER NOT NULL CHECK (value >= 0))",
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)",
]
INSERT_NOTE = Sql("INSERT INTO notes (id, body) VALUES (:id, :body) RETURNING id, body")
SET_COUNTER = Sql("UPDATE counters SET value = :value WHERE id = :id")
READ_COUNTERS = Sql("SELECT id, value FROM counters ORDER BY id")
COUNT_NOTES = Sql("SELECT count(*) FROM notes")


@pytest.fixture
def tables(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(factory) as session:
        for statement in CREATE:
            session.execute(text(statement))
        session.execute(text("INSERT INTO counters (id, value) VALUES (1, 10), (2, 20)"))
    return factory


def test_writes_apply_every_change_and_return_the_first_returning_rows(tables: sessionmaker[Session]) -> None:
    with transaction(tables) as session:
        db = Driver(session)
        returned, (counters, notes) = db.writes(
            (SET_COUNTER, {"id": 1, "value": 11}),  # ``id`` and ``value`` here ...
            (INSERT_NOTE, {"id": 7, "body": "hello"}),
            (SET_COUNTER, {"id": 2, "value": 0}),  # ... and here must not be confused
            then=[(READ_COUNTERS, {}), (COUNT_NOTES, {})],
        )
        assert returned == [(7, "hello")]
        assert counters == [(1, 11), (2, 0)]  # the reads after the writes see them
        assert notes == [(1,)]
    with transaction(tables) as session:  # and they were committed with the transaction
        assert session.execute(text("SELECT id, value FROM counters ORDER BY id")).all() == [(1, 11), (2, 0)]


def test_writes_without_returning_return_no_rows(tables: sessionmaker[Session]) -> None:
    with transaction(tables) as session:
        returned, reads = Driver(session).writes((SET_COUNTER, {"id": 1, "value": 3}))
        assert returned == [] and reads == []


@pytest.mark.parametrize(
    "bad",
    [(INSERT_NOTE, {"id": 8, "body": "taken"}), (SET_COUNTER, {"id": 1, "value": -1})],
    ids=["unique", "check"],
)
def test_a_failing_change_raises_integrity_error_and_keeps_nothing(
    tables: sessionmaker[Session], bad: tuple[Sql, dict[str, object]]
) -> None:
    with transaction(tables) as session:
        Driver(session).writes((INSERT_NOTE, {"id": 1, "body": "taken"}))
    with pytest.raises(IntegrityError), transaction(tables) as session:
        Driver(session).writes((SET_COUNTER, {"id": 2, "value": 21}), bad)
    with transaction(tables) as session:
        assert session.execute(text("SELECT value FROM counters WHERE id = 2")).scalar_one() == 20

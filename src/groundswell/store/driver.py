"""Fixed SQL run straight on the DB-API connection of a session's transaction, for the annotator hot path.

Why below SQLAlchemy: each answer costs a dozen small statements, and SQLAlchemy's execution machinery costs
several times the database's own work on each of them (measured on SQLite: ~20 µs for a prebuilt Core
SELECT by primary key against ~7 µs for the same statement on the ``sqlite3`` connection). Bulk imports take
the same route (:mod:`groundswell.store.bulk`).

The price is doing by hand what SQLAlchemy's types do: this module writes timestamps the way
``UtcDateTime`` stores them (a naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` string on SQLite, ``timestamptz`` on
PostgreSQL), decodes JSON columns, and turns the driver's integrity errors into SQLAlchemy's, so callers
handle one exception type whichever database runs. The statements run inside the session's transaction
(the session begins it), so they commit or roll back with everything else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

__all__ = ["Driver", "Sql"]

_PARAM = re.compile(r"(?<![:\w]):(\w+)")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


class Sql:
    """One statement written once with ``:name`` parameters, in each driver's parameter style.

    ``lock`` goes in on PostgreSQL only (``FOR UPDATE``, ``FOR UPDATE SKIP LOCKED``): where the text says
    ``{lock}``, else at the end. SQLite has no row locks and needs none, since it runs one write transaction
    at a time (``BEGIN IMMEDIATE``).
    """

    __slots__ = ("postgresql", "sqlite")

    def __init__(self, text: str, *, lock: str = "") -> None:
        text = " ".join(text.split())
        if "{lock}" not in text:
            text += " {lock}"
        self.sqlite = text.replace(" {lock}", "")
        self.postgresql = _PARAM.sub(r"%(\1)s", text).replace(" {lock}", f" {lock}" if lock else "")


_COMBINED: dict[tuple[Sql, ...], Sql] = {}
_PG_PARAM = re.compile(r"%\((\w+)\)s")


def _combined(statements: tuple[Sql, ...]) -> Sql:
    """PostgreSQL: ``statements`` as data-modifying CTEs of one statement (``Driver.writes``), built once."""
    found = _COMBINED.get(statements)
    if found is not None:
        return found
    parts, returning = [], None
    for i, statement in enumerate(statements):
        text = _PG_PARAM.sub(f"%(w{i}_\\1)s", statement.postgresql)
        parts.append(f"w{i} AS ({text})")
        if returning is None and " RETURNING " in statement.postgresql.upper():
            returning = f"SELECT * FROM w{i}"
    combined = Sql.__new__(Sql)
    combined.sqlite = ""
    combined.postgresql = f"WITH {', '.join(parts)} {returning or 'SELECT 1 WHERE false'}"
    _COMBINED[statements] = combined
    return combined


class Driver:
    """The DB-API connection under ``session``'s current transaction, with the conversions it needs."""

    __slots__ = ("_connection", "_integrity_error", "is_sqlite")

    def __init__(self, session: Session) -> None:
        connection = session.connection()  # begins the transaction (BEGIN IMMEDIATE on SQLite) if not yet
        self.is_sqlite = connection.dialect.name == "sqlite"
        self._connection: Any = connection.connection.driver_connection
        self._integrity_error: type[Exception] = connection.dialect.dbapi.IntegrityError  # type: ignore[union-attr]

    def _execute(self, statement: Sql, params: Mapping[str, Any]) -> Any:
        text = statement.sqlite if self.is_sqlite else statement.postgresql
        try:
            return self._connection.execute(text, params)
        except self._integrity_error as exc:
            raise IntegrityError(text, dict(params), exc) from exc

    def one(self, statement: Sql, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row, or None."""
        row: tuple[Any, ...] | None = self._execute(statement, params).fetchone()
        return row

    def all(self, statement: Sql, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._execute(statement, params).fetchall()
        return rows

    def run(self, statement: Sql, params: Mapping[str, Any]) -> int:
        """Execute a change; returns the number of rows it touched."""
        count: int = self._execute(statement, params).rowcount
        return count

    def batch(self, *calls: tuple[Sql, Mapping[str, Any]]) -> list[list[tuple[Any, ...]]]:
        """Run statements in order, none needing another's result; each one's rows (empty for changes).

        On PostgreSQL they go out together in one pipeline and wait for one reply: on its own each statement
        waits a network round trip, and the round trips, not the work, bound an answer's time there
        (measured on a quiet machine, in-process: answer + next task 4.2–5.3 → 3.7–4.5 ms).
        """
        if self.is_sqlite or len(calls) == 1:
            return [self._rows(self._execute(statement, params)) for statement, params in calls]
        try:
            with self._connection.pipeline():
                cursors = [self._connection.execute(statement.postgresql, params) for statement, params in calls]
        except self._integrity_error as exc:
            raise IntegrityError("pipeline", None, exc) from exc
        return [self._rows(cursor) for cursor in cursors]

    def writes(
        self, *calls: tuple[Sql, Mapping[str, Any]], then: Sequence[tuple[Sql, Mapping[str, Any]]] = ()
    ) -> tuple[list[tuple[Any, ...]], list[list[tuple[Any, ...]]]]:
        """Run independent changes (INSERT, UPDATE, DELETE) as one statement, then the statements ``then``
        (reads, or a change that must follow the others), each on its own, in order.

        Returns the rows of the first change with ``RETURNING``, and each of ``then``'s rows (empty for a
        change).

        On PostgreSQL the changes become data-modifying CTEs of a single statement, sent in one pipeline with
        ``then``: one execution instead of one per change, which is what a statement costs the client (tens
        of microseconds each in psycopg) and the server. They share one snapshot, so none may depend on
        another's effect and no two may change the same row; ``then``, run after, sees them all. Row triggers
        run at the end of a statement and see all of its changes: a change that the others' triggers must not
        see goes in ``then``. On SQLite everything runs one statement after another.
        """
        if self.is_sqlite:
            returned: list[tuple[Any, ...]] | None = None
            for statement, params in calls:
                cursor = self._execute(statement, params)
                if returned is None and cursor.description is not None:
                    returned = list(cursor.fetchall())
            return returned or [], [self._rows(self._execute(statement, params)) for statement, params in then]
        combined = _combined(tuple(statement for statement, _ in calls))
        merged = {f"w{i}_{name}": value for i, (_, params) in enumerate(calls) for name, value in params.items()}
        first, *rest = self.batch((combined, merged), *then)
        return first, rest

    @staticmethod
    def _rows(cursor: Any) -> list[tuple[Any, ...]]:
        return [] if cursor.description is None else list(cursor.fetchall())

    def time(self, value: datetime | None) -> Any:
        """A timezone-aware timestamp as the store keeps it."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use groundswell.store.tables.utcnow()")
        value = value.astimezone(UTC)
        return value.strftime(_SQLITE_TIME) if self.is_sqlite else value

    def read_time(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @staticmethod
    def read_json(value: Any) -> Any:
        """JSON columns: text on SQLite, already decoded by psycopg."""
        return json.loads(value) if isinstance(value, str | bytes) else value

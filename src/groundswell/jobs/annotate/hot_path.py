"""A signed-in annotator's answer and next task on PostgreSQL: one statement and one round trip per request.

Why: on a small machine under load, each request's own overhead (the transaction's BEGIN and COMMIT, the
sign-in read, the ORM session) cost more CPU than the routing itself, and a server process blocked in a
database call serves nobody else. Here a request is a single call of ``groundswell_submit_as`` or
``groundswell_next_task_as`` (:mod:`groundswell.jobs.annotate.pg_functions`), awaited on one of a few
asynchronous connections in autocommit mode: the function signs the annotator in by their browser session,
checks the CSRF token and does the work, atomically, as one statement, while the event loop serves other
requests.

The functions take the common case only. Anything else ("fallback": another sign-in method, an expired
session, a retry, an error to report, a paused job, …) comes back with nothing done, and the caller runs the
general path (:func:`groundswell.jobs.submit_answer`, :func:`groundswell.jobs.next_task` inside a
transaction), which gives every answer and error its usual form. SQLite has no such functions: there the
general path is already in-process and cheap, and :attr:`HotPath.available` is false.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from groundswell.jobs.annotate.routing import (
    SubmitResult,
    Task,
    check_submit_input,
    continue_after_answer,
    submitted_from_row,
    task_from_row,
)
from groundswell.jobs.people import session_token_digest
from groundswell.store.driver import Sql
from groundswell.store.tables import utcnow

__all__ = ["ASYNC_CONNECTIONS", "HotPath"]

#: Asynchronous connections per server process (and event loop): enough to keep PostgreSQL's share of a
#: small machine busy while the process works on other requests.
ASYNC_CONNECTIONS = 4

_SUBMIT_AS = Sql("""
    SELECT * FROM groundswell_submit_as(CAST(:token_hash AS text), CAST(:csrf AS text), CAST(:lease_id AS bigint),
                                        CAST(:label AS text), CAST(:key AS text), CAST(:time_spent AS double precision),
                                        CAST(:now AS timestamptz), CAST(:next AS boolean), CAST(:exclude AS bigint[]))
""")
_NEXT_TASK_AS = Sql("""
    SELECT * FROM groundswell_next_task_as(CAST(:token_hash AS text), CAST(:csrf AS text), CAST(:job_key AS text),
                                           CAST(:now AS timestamptz), CAST(:exclude AS bigint[]))
""")


class _LoopConnections:
    """Up to ``size`` autocommit connections used by one event loop."""

    def __init__(self, params: dict[str, Any], size: int) -> None:
        self._params = params
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(size)

    async def call(self, statement: Sql, params: dict[str, Any]) -> tuple[Any, ...] | None:
        import psycopg

        async with self._slots:
            connection = self._idle.pop() if self._idle else None
            if connection is None or connection.closed:
                try:
                    connection = await psycopg.AsyncConnection.connect(**self._params, autocommit=True)
                except psycopg.OperationalError:
                    # The database refuses connections (restarting, or down): nothing was done, and the general
                    # path answers as the server does whenever the database is unavailable (a 503). Raised from
                    # here, this driver error was a 500 (found by tests/faults/test_database_restart.py).
                    return None
            try:
                cursor = await connection.execute(statement.postgresql, params)
                row: tuple[Any, ...] | None = await cursor.fetchone()
            except psycopg.IntegrityError:
                # e.g. one idempotency key used by two answers at once: the general path tells them apart
                self._idle.append(connection)
                return None
            except psycopg.OperationalError:
                await connection.close()  # a dropped connection: the general path, with its pool's checks, runs
                return None
            self._idle.append(connection)
            return row

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()


class HotPath:
    """The one-statement route of a web app (module docstring); one per app, closed with it.

    Connections belong to the event loop that opened them, so each loop gets its own few (a server process
    runs one loop; a test client may run several).
    """

    def __init__(self, factory: sessionmaker[Session], *, connections: int = ASYNC_CONNECTIONS) -> None:
        bind = factory.kw.get("bind")
        self._factory = factory
        self.available = isinstance(bind, Engine) and bind.dialect.name == "postgresql"
        self._params: dict[str, Any] = {}
        if self.available:
            assert isinstance(bind, Engine)
            _, params = bind.dialect.create_connect_args(bind.url)
            self._params = {k: v for k, v in params.items() if k != "context"}
        self._size = connections
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConnections] = (
            weakref.WeakKeyDictionary()
        )

    async def _call(self, statement: Sql, params: dict[str, Any]) -> tuple[Any, ...] | None:
        loop = asyncio.get_running_loop()
        connections = self._loops.get(loop)
        if connections is None:
            connections = self._loops[loop] = _LoopConnections(self._params, self._size)
        return await connections.call(statement, params)

    async def close(self) -> None:
        """Close the current event loop's connections."""
        connections = self._loops.pop(asyncio.get_running_loop(), None)
        if connections is not None:
            await connections.close()

    async def submit(
        self,
        session_token: str,
        csrf_token: str | None,
        lease_id: int,
        *,
        label: str,
        idempotency_key: str,
        time_spent_s: float | None = None,
        next_exclude: frozenset[int] | None = None,
        now: datetime | None = None,
    ) -> SubmitResult | None:
        """:func:`groundswell.jobs.submit_answer` for the annotator signed in with ``session_token``, in one
        statement; None when the general path must run (nothing was done)."""
        if not self.available:
            return None
        check_submit_input(idempotency_key, time_spent_s)
        now = now or utcnow()
        row = await self._call(
            _SUBMIT_AS,
            {
                "token_hash": session_token_digest(session_token),
                "csrf": csrf_token,
                "lease_id": lease_id,
                "label": label,
                "key": idempotency_key,
                "time_spent": time_spent_s,
                "now": now,
                "next": next_exclude is not None,
                "exclude": sorted(next_exclude or ()),
            },
        )
        parsed = None if row is None else submitted_from_row(row[1:], lease_id, label, now)
        if row is None or parsed is None:
            return None
        worker_id, (status, result, task) = row[0], parsed
        if status == "ok-last":  # stored; the job may be complete: the general path finishes up
            return continue_after_answer(self._factory, worker_id, result, next_exclude, now, may_complete=True)
        if next_exclude is None:
            return result
        if task is not None:
            return replace(result, next=task)
        return continue_after_answer(self._factory, worker_id, result, next_exclude, now, may_complete=False)

    async def next_task(
        self,
        session_token: str,
        csrf_token: str | None,
        job_name: str,
        *,
        exclude: frozenset[int] = frozenset(),
        now: datetime | None = None,
    ) -> Task | None:
        """:func:`groundswell.jobs.next_task` for the annotator signed in with ``session_token``, in one
        statement, when it leases or hands back a task; None when the general path must run (nothing done)."""
        if not self.available:
            return None
        row = await self._call(
            _NEXT_TASK_AS,
            {
                "token_hash": session_token_digest(session_token),
                "csrf": csrf_token,
                "job_key": job_name.lower(),
                "now": now or utcnow(),
                "exclude": sorted(exclude),
            },
        )
        if row is None or row[3] != "task":
            return None
        return task_from_row(row[4:], row[1], row[2])

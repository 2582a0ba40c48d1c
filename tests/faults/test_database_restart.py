"""PostgreSQL goes away mid-load and comes back: the server recovers by itself, no answer lost or duplicated.

How the restart is made: the test server is shared with every other test, so it is not stopped. Instead,
what a restart does to *this* service is done to its own database only: new connections are refused
(``ALTER DATABASE … ALLOW_CONNECTIONS false``) and every open one is cut (``pg_terminate_backend`` of the
backends on that database), from an admin connection to another database. The server's pooled connections,
its hot path's asynchronous connections and any transaction in flight all die at once, as they do when
PostgreSQL restarts; connections are allowed again once every client has felt the outage.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from conftest import postgres_admin_url
from faults.crowd import PER_ITEM, Crowd, Tally, assert_all_unavailable, check_invariants, prepare_job, wait_for
from groundswell import jobs
from groundswell.settings import Settings
from groundswell.store.db import transaction
from groundswell.web.app import create_app
from servers import group_members, start_server, stop_server

ITEMS = 240
ANNOTATORS = 6
OUTAGE_AT = (0.25, 0.6)


def _errors(tally: Tally) -> int:
    with tally.lock:
        return len(tally.server_errors) + tally.transport_errors


def _outage(connection: Connection, database: str, crowd: Crowd) -> int:
    """Refuse and cut every connection to ``database`` until the clients have seen a few errors; returns how
    many backends were cut."""
    seen = _errors(crowd.tally)
    connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
    try:
        cut = connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database},
        ).all()
        # Down as long as a restart takes: until the clients have felt it (a failed request or more each).
        wait_for(
            lambda: _errors(crowd.tally) >= seen + ANNOTATORS,
            "the clients to see the outage",
            deadline=time.monotonic() + 20,
            crowd=crowd,
        )
    finally:
        connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
    return len(cut)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_database_restart_mid_load_is_survived_without_restarting_the_server(
    postgres_url: str, tmp_path: Path
) -> None:
    database = make_url(postgres_url).database
    assert database
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    tokens = prepare_job(postgres_url, items=ITEMS, annotators=ANNOTATORS)
    server = start_server(postgres_url, tmp_path, workers=2)
    processes = sorted(group_members(server.process.pid))
    total = ITEMS * PER_ITEM
    cut: list[int] = []
    try:
        crowd = Crowd(server.url, tokens)
        crowd.start()
        with admin.connect() as connection:
            for share in OUTAGE_AT:
                crowd.wait_answered(share, total)
                cut.append(_outage(connection, database, crowd))
        tally = crowd.join()
        # Recovered, not restarted: the same processes (serve would restart a worker that died) answer.
        assert server.process.poll() is None
        assert sorted(group_members(server.process.pid)) == processes
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        stop_server(server)
        admin.dispose()

    assert all(count > 0 for count in cut), cut  # the server had connections open, and lost them
    assert_all_unavailable(tally)  # the clients saw the outage, as 503s asking them to retry
    check_invariants(postgres_url, tally)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OperationalError("SELECT 1", {}, sqlite3.OperationalError("database or disk is full")), 503),
        (OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")), 503),
        (PoolTimeoutError("QueuePool limit of size 5 overflow 10 reached"), 503),
        (IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed: secret.detail")), 500),
    ],
)
def test_which_database_errors_are_503s(
    error: Exception, status: int, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mapping the load tests rely on, one error at a time: a database that cannot work now is a 503 with
    Retry-After; a database error that means a bug stays a 500. Neither shows the driver's message."""
    app = create_app(Settings(database_url=sqlite_url, data_dir=tmp_path))
    with transaction(app.state.factory) as session:
        _, key = jobs.create_admin(session, "ops@example.org")

    def failing(session: object) -> None:
        raise error

    monkeypatch.setattr(jobs, "list_jobs", failing)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {key}"})
    body = response.json()
    assert (response.status_code, body["status"], body["ok"]) == (status, status, False)
    assert response.headers["x-request-id"] in body["error"]
    assert ("retry-after" in response.headers) == (status == 503)
    assert "disk" not in response.text and "secret" not in response.text and "QueuePool" not in response.text

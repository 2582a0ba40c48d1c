"""PostgreSQL connection pool: a connection the server dropped while it sat idle is replaced, not handed out.

``make_engine`` pings only connections idle longer than ``IDLE_PING_S`` (a ping on every checkout cost the
annotator hot path a round trip per request), so this checks that the ping still catches a dead one.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from groundswell.store import db as store_db
from groundswell.store import make_engine


def _backend_pid(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")))


def test_idle_connection_killed_by_the_server_is_replaced(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)
    admin = make_engine(postgres_url)
    try:
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first  # pooled: the same server connection again
        with admin.connect() as connection:
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        monkeypatch.setattr(store_db, "IDLE_PING_S", 0.0)  # the pooled connection now counts as long idle

        second = _backend_pid(engine)  # no error: the ping found the dead connection and the pool replaced it

        assert second != first
    finally:
        engine.dispose()
        admin.dispose()


def test_only_idle_connections_are_pinged(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)
    statements: list[str] = []
    try:
        _backend_pid(engine)
        raw = engine.raw_connection()
        try:
            dbapi = raw.driver_connection
            original = dbapi.execute

            def spy(query, *args, **kwargs):  # type: ignore[no-untyped-def]
                statements.append(str(query))
                return original(query, *args, **kwargs)

            dbapi.execute = spy
        finally:
            raw.close()
        _backend_pid(engine)  # checked out again at once: no ping
        assert statements == []
        monkeypatch.setattr(store_db, "IDLE_PING_S", 0.0)
        _backend_pid(engine)
        assert statements == ["SELECT 1"]  # the spy sees a ping when there is one
    finally:
        engine.dispose()

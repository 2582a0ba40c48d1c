"""Whether the store answers at all: what a load balancer's health check asks, many times a minute."""

from __future__ import annotations

from sqlalchemy import Engine

__all__ = ["database_error"]


def database_error(engine: Engine) -> Exception | None:
    """``SELECT 1`` through the engine's pool; the failure, or None when the database answered.

    Why on the DB-API connection and not a SQLAlchemy ``Connection``: on SQLite every SQLAlchemy transaction
    starts with ``BEGIN IMMEDIATE`` (:func:`groundswell.store.db.make_engine`), so a health check would queue
    for the write lock behind every answer being saved. A connection that fails is dropped from the pool,
    so the next check (and the next request) gets a fresh one.
    """
    try:
        connection = engine.raw_connection()
    except Exception as exc:  # whatever the driver raises for "cannot connect" is the answer itself
        return exc
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        cursor.fetchone()
        cursor.close()
    except Exception as exc:
        connection.invalidate()
        return exc
    finally:
        connection.close()
    return None

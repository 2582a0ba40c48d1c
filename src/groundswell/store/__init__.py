"""Persistence: SQLAlchemy 2 tables, engines and Alembic migrations for SQLite and PostgreSQL."""

from groundswell.store.db import (
    current_revision,
    head_revision,
    make_engine,
    make_session_factory,
    transaction,
    upgrade,
)

__all__ = [
    "current_revision",
    "head_revision",
    "make_engine",
    "make_session_factory",
    "transaction",
    "upgrade",
]

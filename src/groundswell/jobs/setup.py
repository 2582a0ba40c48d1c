"""A store made ready for the use cases: what every composition root (web app, CLI, tests) calls on start."""

from __future__ import annotations

from sqlalchemy import Engine

from groundswell.jobs.annotate.pg_functions import install_functions
from groundswell.store import upgrade

__all__ = ["prepare_store"]


def prepare_store(engine: Engine) -> list[str]:
    """Bring the schema to its newest revision and, on PostgreSQL, the hot path's functions to their current
    bodies (:mod:`groundswell.jobs.annotate.pg_functions`); returns the functions replaced.

    Why here and not in a migration: the functions are generated from the general path's SQL, which changes
    with the code, not with the schema; a migration runs once, this on every start, and replaces a function
    only when its installed body differs.
    """
    upgrade(engine)
    if engine.dialect.name != "postgresql":
        return []
    with engine.begin() as connection:
        return install_functions(connection)

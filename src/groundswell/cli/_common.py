"""What every command shares: settings built once per run, the store opened (and migrated) on demand, one
mapping from the error tree to exit codes, and Rich output."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from groundswell.errors import (
    ConflictError,
    GroundswellError,
    InvalidInputError,
    NotFoundError,
    RejectedInputError,
    UsageError,
)
from groundswell.settings import Settings

if TYPE_CHECKING:  # the store (SQLAlchemy, Alembic) is imported when a command first needs it, not for --help
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

__all__ = ["EXIT_INPUT", "EXIT_USAGE", "AppState", "console", "err_console", "handle_errors", "state"]

EXIT_INPUT = 1
EXIT_USAGE = 2

console = Console()
err_console = Console(stderr=True)


@dataclass
class AppState:
    """Built lazily so `--help` and commands that need no database never touch one."""

    _settings: Settings | None = None
    _engine: Engine | None = None
    _factory: sessionmaker[Session] | None = field(default=None)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings()
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from groundswell.store import make_engine

            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def store(self) -> sessionmaker[Session]:
        """The session factory, with the schema brought up to date first (cheap when it already is)."""
        if self._factory is None:
            from groundswell.jobs.setup import prepare_store
            from groundswell.store import make_session_factory

            prepare_store(self.engine)
            self._factory = make_session_factory(self.engine)
        return self._factory

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
        root.call_on_close(root.obj.close)
    return root.obj


@contextmanager
def handle_errors() -> Iterator[None]:
    """Print one actionable line (plus the listed problems) and exit 1 for bad input, 2 for bad usage."""
    try:
        yield
    except RejectedInputError as exc:
        err_console.print(f"[bold red]Rejected:[/] {exc.total} problem(s); nothing was imported.")
        for problem in exc.problems:
            err_console.print(f"  {problem}", markup=False, highlight=False)
        if exc.total > len(exc.problems):
            err_console.print(f"  … and {exc.total - len(exc.problems)} more")
        err_console.print("Fix the rows above, or pass --skip-invalid to import the good rows and get a report.")
        raise typer.Exit(EXIT_INPUT) from exc
    except (UsageError, NotFoundError) as exc:
        err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from exc
    except (InvalidInputError, ConflictError, GroundswellError) as exc:
        err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_INPUT) from exc
    except Exception as exc:
        reason = _database_unreachable(exc)
        if reason is None:
            raise
        # Like a missing file: nothing is wrong with the request, the command cannot reach what it works on.
        err_console.print(
            f"[bold red]Error:[/] cannot reach the database (GROUNDSWELL_DATABASE_URL): {escape(reason)}",
            highlight=False,
        )
        raise typer.Exit(EXIT_USAGE) from exc


def _database_unreachable(exc: Exception) -> str | None:
    """The driver's first line when ``exc`` says the database cannot be reached (refused, unknown host, wrong
    password, SQLite file that cannot be opened); ``None`` for anything else, which stays a traceback."""
    import sys

    errors = sys.modules.get("sqlalchemy.exc")  # only set when the store was used: no import for other failures
    if errors is None or not isinstance(exc, errors.OperationalError):
        return None
    if not isinstance(exc, errors.DBAPIError) or (not exc.connection_invalidated and exc.statement):
        return None
    first = str(exc.orig).strip().splitlines()
    return first[0] if first else type(exc.orig).__name__

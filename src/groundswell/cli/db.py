"""`groundswell db ...`: schema management."""

from __future__ import annotations

import typer

from groundswell.cli._common import console, handle_errors, state
from groundswell.jobs.setup import prepare_store
from groundswell.store import current_revision, head_revision

app = typer.Typer(help="Database schema commands.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Create or migrate the database to the newest schema (on PostgreSQL, with the current hot-path functions).

    Example: GROUNDSWELL_DATABASE_URL=postgresql+psycopg://me@localhost/gs groundswell db upgrade
    """
    with handle_errors():
        app_state = state(ctx)
        before = current_revision(app_state.engine)
        replaced = prepare_store(app_state.engine)
        after = current_revision(app_state.engine)
        url = app_state.engine.url.render_as_string(hide_password=True)
        if before == after:
            console.print(f"Schema already at revision {after} ({url}).")
        else:
            console.print(f"Schema upgraded {before or 'empty'} → {after} ({url}).")
        if replaced:
            console.print(f"Server-side functions brought up to date: {', '.join(replaced)}.")


@app.command("current")
def current_command(ctx: typer.Context) -> None:
    """Print the database's schema revision and the newest one this version knows.

    Example: groundswell db current
    """
    with handle_errors():
        console.print(f"current: {current_revision(state(ctx).engine) or 'none'}  head: {head_revision()}")

"""`groundswell db ...`: schema management, backup and restore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.filesize import decimal
from rich.markup import escape

from groundswell.cli._common import EXIT_INPUT, console, err_console, handle_errors, state
from groundswell.jobs.setup import prepare_store
from groundswell.store import current_revision, head_revision

app = typer.Typer(help="Database schema, backup and restore commands.", no_args_is_help=True)


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


@app.command("backup")
def backup_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The backup file to write (replaced if it exists).", dir_okay=False)],
) -> None:
    """Write a consistent backup of the whole store while the server runs (SQLite: a database file made with
    SQLite's online backup; PostgreSQL: a pg_dump custom-format archive).

    Example: groundswell db backup backups/groundswell-$(date +%F).db
    """
    from groundswell.store.backup import backup

    with handle_errors():
        app_state = state(ctx)
        written = backup(app_state.engine, path)
        url = app_state.engine.url.render_as_string(hide_password=True)
        console.print(
            f"Backed up {escape(url)} (schema revision {written.revision}) to {escape(str(written.path))} "
            f"({decimal(written.size)})."
        )


@app.command("restore")
def restore_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file written by `groundswell db backup`.", dir_okay=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before replacing the store's data.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Restore even while other clients are connected (PostgreSQL).")
    ] = False,
) -> None:
    """Replace everything in the store with a backup, then bring its schema up to date. Stop `groundswell
    serve` and the runners first: they would keep working from data that is no longer there.

    Example: groundswell db restore backups/groundswell-2024-05-01.db
    """
    from groundswell.store.backup import check_backup, other_sessions, restore

    with handle_errors():
        app_state = state(ctx)
        engine = app_state.engine
        url = engine.url.render_as_string(hide_password=True)
        revision = check_backup(engine, path)
        others = other_sessions(engine)
        if others and not force:
            err_console.print(
                f"[bold red]Error:[/] {others} other client(s) are connected to {escape(url)}; stop the server "
                "and runners first, or pass --force. Nothing was restored.",
                highlight=False,
            )
            raise typer.Exit(EXIT_INPUT)
        if not yes and not _confirmed(f"Replace everything in {url} with {path} (schema revision {revision})?"):
            err_console.print("Nothing was restored.")
            raise typer.Exit(EXIT_INPUT)
        restored = restore(engine, path)
        replaced = prepare_store(engine)
        after = current_revision(engine)
        console.print(
            f"Restored {escape(str(restored.path))} ({decimal(restored.size)}, schema revision {restored.revision}) "
            f"into {escape(url)}; schema now at {after}."
        )
        if replaced:
            console.print(f"Server-side functions brought up to date: {', '.join(replaced)}.")


def _confirmed(question: str) -> bool:
    """No answer (stdin closed, as under cron) is a no: a restore happens only when someone said yes."""
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:
        return False

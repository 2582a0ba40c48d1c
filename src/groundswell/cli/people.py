"""`groundswell admin create` and `groundswell worker invite`: credentials for people."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from groundswell import jobs
from groundswell.cli._common import console, handle_errors, state
from groundswell.store.db import transaction

admin_app = typer.Typer(help="Administrators and their API keys.", no_args_is_help=True)
worker_app = typer.Typer(help="Annotators and their invite links.", no_args_is_help=True)


@admin_app.command("create")
def admin_create(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The admin's email (their identity; nothing is sent).")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="A key that reads (GET) and changes nothing: dashboards, scripts.")
    ] = False,
) -> None:
    """Create an admin and print a new API key (shown once; only its hash is stored).

    Example: groundswell admin create me@example.org
    Example: groundswell admin create dashboard@example.org --read-only
    """
    with handle_errors():
        role = jobs.READ_ONLY_ROLE if read_only else "admin"
        with transaction(state(ctx).store()) as session:
            worker, key = jobs.create_admin(session, email, name, role=role)
        kind = "Read-only API key" if read_only else "API key"
        console.print(f"Admin {worker.email}. {kind} (store it now; it is not shown again):")
        console.print(key, markup=False, highlight=False, soft_wrap=True)


@worker_app.command("invite")
def worker_invite(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The annotator's email (their identity; nothing is sent).")],
    team: Annotated[str | None, typer.Option(help="Team to add them to (created if new).")] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Print a one-time invite link that signs the annotator in.

    Example: groundswell worker invite ana@example.org --team core
    """
    with handle_errors():
        settings = state(ctx).settings
        with transaction(state(ctx).store()) as session:
            worker, token = jobs.create_invite(
                session, email, team=team, valid_for=timedelta(days=settings.invite_days), name=name
            )
        console.print(f"Invite for {worker.email}" + (f" (team {team})" if team else "") + ":")
        console.print(
            f"{settings.public_url.rstrip('/')}/invite/{token}", markup=False, highlight=False, soft_wrap=True
        )

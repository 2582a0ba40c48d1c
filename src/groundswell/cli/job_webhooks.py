"""`groundswell job webhook add|list|remove`: where a job's final labels are POSTed as they become final."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from groundswell import jobs
from groundswell.cli._common import console, handle_errors, state
from groundswell.jobs.webhooks import add_webhook, list_webhooks, remove_webhook
from groundswell.store.db import transaction

__all__ = ["app"]

app = typer.Typer(
    help="POST each final label of a job, as its output-manifest line, to URLs (signed, retried until delivered).",
    no_args_is_help=True,
)

JobName = Annotated[str, typer.Argument(help="Job name.")]


@app.command("add")
def add_command(ctx: typer.Context, name: JobName, url: Annotated[str, typer.Argument(help="http(s) URL.")]) -> None:
    """Send the job's labels that become final from now on to URL (the runner delivers them).

    Each POST carries X-Groundswell-Signature (sha256=HMAC-SHA256 of the body keyed by the job's secret),
    X-Groundswell-Delivery (the same on every retry: deduplicate by it) and X-Groundswell-Event (the feed
    cursor). Earlier labels: `groundswell job export NAME --since 0`.

    Example: groundswell job webhook add brand-watch https://hooks.example.org/labels
    """
    with handle_errors(), transaction(state(ctx).store()) as session:
        hook, secret = add_webhook(session, jobs.get_job(session, name), url)
    console.print(f"Added webhook {hook.id} → {hook.url}; signing secret [bold]{secret}[/]")


@app.command("list")
def list_command(ctx: typer.Context, name: JobName) -> None:
    """The job's webhooks, their deliveries (delivered / waiting) and the last failure; and the secret."""
    with handle_errors(), state(ctx).store()() as session:
        job = jobs.get_job(session, name)
        hooks = list_webhooks(session, job)
        secret = job.webhook_secret
    if not hooks:
        console.print(f"Job {name} has no webhooks.")
        return
    table = Table("id")
    table.add_column("url", overflow="fold")  # a URL is copied whole, never cut short
    for heading in ("delivered", "waiting", "last status", "last error"):
        table.add_column(heading)
    for hook in hooks:
        table.add_row(
            str(hook.id),
            hook.url,
            f"{hook.delivered:,}",
            f"{hook.pending:,}",
            "" if hook.last_status is None else str(hook.last_status),
            hook.last_error or "",
        )
    console.print(table)
    console.print(f"Signing secret: {secret}")


@app.command("remove")
def remove_command(ctx: typer.Context, name: JobName, webhook_id: Annotated[int, typer.Argument(help="Id.")]) -> None:
    """Stop sending to a webhook (what it was still owed is dropped)."""
    with handle_errors(), transaction(state(ctx).store()) as session:
        remove_webhook(session, jobs.get_job(session, name), webhook_id)
    console.print(f"Removed webhook {webhook_id} of job {name}.")

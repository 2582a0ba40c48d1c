"""`groundswell job correct`: an admin's correction of one tweet's label, or its revert
(:mod:`groundswell.jobs.adjudication`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from groundswell import jobs
from groundswell.cli._common import console, handle_errors, state
from groundswell.errors import UsageError
from groundswell.jobs.adjudication import CLI_ADMIN_NAME, cli_admin, correct_label, revert_correction
from groundswell.store.db import transaction

__all__ = ["correct_command"]


def correct_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name.")],
    item_id: Annotated[str, typer.Argument(help="The tweet's id in its dataset (a label's item_id).")],
    label: Annotated[str | None, typer.Argument(help="The right label (one of the job's).")] = None,
    note: Annotated[str | None, typer.Option(help="Why: kept with the correction in its history.")] = None,
    revert: Annotated[
        bool, typer.Option("--revert", help="Undo the corrections since the last revert instead.")
    ] = False,
    by: Annotated[
        str | None,
        typer.Option(help=f"Email of the admin to record (default: the store's '{CLI_ADMIN_NAME}' admin)."),
    ] = None,
) -> None:
    """Correct a tweet's label: final from now on (method `adjudicated`, confidence 1), kept over every later
    answer, vote and consolidation, and marked `"adjudicated": "yes"` in the export. With --revert, its label
    goes back to the one before its first correction (or none) and a consolidation is queued.

    Example: groundswell job correct brand-watch 1712345678901 negative --note "sarcasm"
    Example: groundswell job correct brand-watch 1712345678901 --revert
    """
    with handle_errors():
        if revert == (label is not None):
            raise UsageError("give the right LABEL, or --revert (not both)")
        with transaction(state(ctx).store()) as session:
            job = jobs.get_job(session, name)
            admin = cli_admin(session, by)
            if label is not None:
                row = correct_label(session, job, item_id, label, by=admin, note=note)
                done = f"Corrected {escape(item_id)} in job {job.name}: [bold]{escape(row.label)}[/] (adjudicated)."
            else:
                back = revert_correction(session, job, item_id, by=admin)
                was = "no label" if back is None else f"[bold]{escape(back.label)}[/] ({back.method})"
                done = f"Reverted {escape(item_id)} in job {job.name}: back to {was}; a consolidation is queued."
    console.print(done)

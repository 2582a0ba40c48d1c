"""`groundswell job drift`: a job's labels day by day, and whether the model still agrees with people."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from groundswell import jobs
from groundswell.cli._common import console, err_console, handle_errors, state
from groundswell.jobs.drift import drift_report

__all__ = ["drift_command"]


def drift_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name.")],
    days: Annotated[int, typer.Option(help="UTC days to show, up to today.", min=1, max=366)] = 14,
    agreement_floor: Annotated[
        float | None,
        typer.Option(
            help="Warn on a day whose model–human agreement is below this (default: 10 points under the "
            "window's own agreement).",
            min=0.0,
            max=1.0,
        ),
    ] = None,
) -> None:
    """Per day: labels made final, the share of each label, the share the model labeled, and the model's
    agreement with people on the tweets they labeled; a warning for a day whose agreement fell below the floor.

    Example: groundswell job drift brand-watch --days 7
    """
    with handle_errors(), state(ctx).store()() as session:
        job = jobs.get_job(session, name)
        report = drift_report(session, job, days=days, agreement_floor=agreement_floor)
        labels = jobs.job_labels(session, job)
    if not report.days:
        console.print(f"Job {name}: no label became final in the last {days} day(s).")
        return
    table = Table("day", "labels", *labels, "by the model", "reviewed", "agreement")
    for day in report.days:
        table.add_row(
            day.day.isoformat(),
            f"{day.labels:,}",
            *(f"{day.shares[label]:.0%}" for label in labels),
            f"{day.machine_share:.0%}",
            f"{day.reviewed:,}",
            "–" if day.agreement is None else f"{day.agreement:.0%}",
            style="red" if day.warning else None,
        )
    console.print(table)
    if report.agreement is not None and report.floor is not None:
        console.print(f"Agreement over the window {report.agreement:.0%}; floor {report.floor:.0%}.")
    for warning in report.warnings:
        err_console.print(f"[yellow]Warning:[/] {warning}")

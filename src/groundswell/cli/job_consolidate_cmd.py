"""`groundswell job consolidate` and `groundswell job export`: a job's labels, and its results as files.

Thin: the work is in ``groundswell.jobs.consolidation`` and ``groundswell.jobs.manifest``; this module maps
options to calls, prints a summary, and lets ``handle_errors`` turn errors into exit codes.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from groundswell.cli._common import console, err_console, handle_errors, state
from groundswell.consolidate import METHODS
from groundswell.errors import UsageError
from groundswell.jobs import get_job
from groundswell.jobs.agreement import agreement_summary
from groundswell.jobs.consolidation import consolidate_job
from groundswell.jobs.manifest import FORMATS, export_job
from groundswell.store.db import transaction

__all__ = ["consolidate_command", "export_command", "register"]


def _figure(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def consolidate_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name.")],
    method: Annotated[
        str | None,
        typer.Option(help="mv | wmv | ds | ods | auto; default: the job's setting (auto unless set at creation)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for breaking exact ties.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Consolidate a job's judgments now with the full model: labels, confidences and worker skills.

    The background runner does this periodically and when the job ends; run it by hand before an export
    if no runner is running. Gold items inform worker skills and get no label.

    Example: groundswell job consolidate launch-sentiment --method ds
    """
    with handle_errors():
        if method is not None and method not in METHODS:
            raise UsageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        with transaction(state(ctx).store()) as session:
            job = get_job(session, name)
            report = consolidate_job(session, job, method=method, random_state=seed)
            summary = agreement_summary(session, job)
        if as_json:
            typer.echo(json.dumps(report.as_dict()))
            return
        table = Table(title=f"Consolidated {report.job}", show_header=False)
        table.add_row("method", f"{report.method}  ({report.reason})")
        table.add_row("items labeled", f"{report.items_labeled:,}")
        table.add_row("judgments / workers", f"{report.judgments:,} / {report.workers:,}")
        table.add_row("gold items (not labeled)", f"{report.gold_items:,}")
        table.add_row("mean confidence", _figure(summary.mean_confidence, 2))
        table.add_row("below redundancy threshold", f"{summary.below_threshold:,}")
        table.add_row("Krippendorff's alpha", _figure(summary.krippendorff_alpha))
        table.add_row("Fleiss' kappa", _figure(summary.fleiss_kappa))
        table.add_row("time", f"{report.seconds:.2f} s")
        console.print(table)


def export_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name.")],
    out: Annotated[str, typer.Option("--out", "-o", help="File to write: a local path or s3://bucket/key.")],
    fmt: Annotated[
        str, typer.Option("--format", help="manifest (Ground Truth output manifest, JSON Lines) | csv | parquet.")
    ] = "manifest",
    worker_responses: Annotated[
        str | None,
        typer.Option(
            "--worker-responses",
            help="Also write annotations/worker-response/iteration-1/<id>/<time>.json under this folder.",
        ),
    ] = None,
) -> None:
    """Export a job's labels: every input line plus its label, as Ground Truth's output manifest writes it.

    Items without a label yet are copied unchanged; gold items are left out. Labels are as last
    consolidated (run `groundswell job consolidate` first for the full model).

    Examples:
      groundswell job export launch-sentiment --out output.manifest
      groundswell job export launch-sentiment --format parquet --out s3://bucket/labels.parquet
      groundswell job export launch-sentiment --out out/output.manifest --worker-responses out
    """
    with handle_errors():
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        app_state = state(ctx)
        report = export_job(
            app_state.store(),
            name,
            out,
            fmt=fmt,
            worker_responses_dir=worker_responses,
            storage_options=app_state.settings.storage_options(),
        )
        console.print(f"Wrote {report.items:,} line(s), {report.labeled:,} labeled, to {report.out} ({report.format})")
        if worker_responses is not None:
            console.print(f"Wrote {report.worker_response_files:,} worker-response file(s) under {worker_responses}")
        if report.items and not report.labeled:
            err_console.print("No item has a label yet: run `groundswell job consolidate` after answers arrive.")


def register(job_app: typer.Typer) -> None:
    """Add ``consolidate`` and ``export`` to the ``job`` sub-app."""
    job_app.command("consolidate")(consolidate_command)
    job_app.command("export")(export_command)

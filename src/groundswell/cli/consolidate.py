"""`groundswell consolidate`: consolidate a CSV of crowd judgments without a database or a job.

A thin shell: reading, validating and aggregating live in ``groundswell.consolidate``; this module only
maps options to calls and errors to exit codes (1 = bad input, 2 = bad usage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from groundswell.errors import GroundswellError, UsageError

__all__ = ["consolidate_command", "register"]

_EXIT_INPUT = 1
_EXIT_USAGE = 2


def consolidate_command(
    answers: Annotated[Path, typer.Argument(help="CSV with columns task,worker,label (one row per judgment).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write task,label,confidence as CSV.")],
    method: Annotated[
        str,
        typer.Option(
            "--method",
            "-m",
            help="mv | wmv | ds | ods | glad | mace | auto (auto: the method that agrees best with withheld answers).",
        ),
    ] = "auto",
    labels: Annotated[
        str | None, typer.Option("--labels", help="The job's labels in class order, comma-separated.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for breaking exact ties.")] = 0,
) -> None:
    """Consolidate crowd judgments into one label per task, with a confidence.

    Example: groundswell consolidate answers.csv --method auto --out labels.csv --labels positive,negative,neutral
    """
    # Imported here so `groundswell --help` does not load pandas and SciPy.
    from groundswell.consolidate import (
        AutoAggregator,
        labels_table,
        make_aggregator,
        parse_label_list,
        read_answers_csv,
        write_labels_csv,
    )

    try:
        label_list = parse_label_list(labels) if labels is not None else None
        model = make_aggregator(method, labels=label_list, random_state=seed)
        judgments = read_answers_csv(answers, label_list)
        table = labels_table(model.fit(judgments))
        write_labels_csv(table, out)
    except UsageError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(_EXIT_USAGE) from exc
    except GroundswellError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(_EXIT_INPUT) from exc
    chosen = f"auto → {model.method_}: {model.reason_}" if isinstance(model, AutoAggregator) else method
    typer.echo(f"Consolidated {len(table)} task(s) from {len(judgments)} judgment(s) with {chosen}; wrote {out}")


def register(app: typer.Typer) -> None:
    """Add the ``consolidate`` command to ``app``."""
    app.command("consolidate")(consolidate_command)

"""`groundswell job model-loop` and `groundswell job models`: retrain a job's model as its labels grow,
promote only what is not worse, list and restore versions (`groundswell.train.loop`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from groundswell import jobs
from groundswell.cli._common import console, handle_errors, state
from groundswell.errors import UsageError
from groundswell.store.db import transaction
from groundswell.train.loop import loop_settings, loop_versions, restore_version, set_model_loop

__all__ = ["model_loop_command", "models_command"]


def model_loop_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name.")],
    out: Annotated[
        Path | None, typer.Option(help="The model folder `groundswell endpoint serve` serves; promotions go here.")
    ] = None,
    every: Annotated[int, typer.Option(help="Retrain each time this many more human labels are final.", min=1)] = 500,
    interval: Annotated[
        float | None,
        typer.Option(
            help="Also retrain when this many seconds passed since the last candidate and new labels are final.", min=60
        ),
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop retraining this job.")] = False,
) -> None:
    """Retrain the job's model in the runner as its human labels grow; promote a candidate into --out only if it
    scores at least as well as the served model on a fixed held-out set of the job's human labels.

    Example: groundswell job model-loop brand-watch --out models/brand --every 500
    """
    with handle_errors():
        if off == (out is not None):
            raise UsageError("give --out FOLDER to turn the loop on, or --off")
        with transaction(state(ctx).store()) as session:
            loop = set_model_loop(session, jobs.get_job(session, name), None if off else out, every, interval)
    if loop is None:
        console.print(f"Model loop of job {name}: off.")
    else:
        console.print(
            f"Model loop of job {name}: retrain every {loop['every']:,} human labels"
            + (f" or {loop['interval_s']:g} s" if "interval_s" in loop else "")
            + f", promote into {loop['out']} "
            "(`groundswell runner` does it; serve it with `groundswell endpoint serve` on that folder)."
        )


def models_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name.")],
    restore: Annotated[int | None, typer.Option(help="Put this version back into the served folder.")] = None,
) -> None:
    """The job's model versions, newest first: what trained each, its score and the served one's on the
    held-out labels, and whether (and by whom) it was promoted; --restore ID serves an earlier one again."""
    with handle_errors():
        with transaction(state(ctx).store()) as session:
            job = jobs.get_job(session, name)
            if restore is not None:
                row = restore_version(session, job, restore, by="restored with `groundswell job models --restore`")
                console.print(
                    f"Restored version {restore} into {(loop_settings(job) or {}).get('out')} (row {row.id})."
                )
            versions = loop_versions(session, job)
            decisions: list[str] = []
            table = Table("id", "when", "kind", "trained on", "held out", "its score", "served score", "promoted")
            for v in versions:
                m = v.metrics or {}
                table.add_row(
                    str(v.id),
                    v.created_at.strftime("%Y-%m-%d %H:%M"),
                    v.purpose if v.purpose != "restore" else f"restore of {m.get('restored_from')}",
                    f"{m.get('train_labels', v.training_size) or 0:,}",
                    f"{m.get('holdout_labels', 0):,}",
                    _score(m.get("holdout_macro_recall")),
                    _score(m.get("served_macro_recall")),
                    "yes" if m.get("promoted") else "no",
                )
                decisions.append(f"{v.id}: {m.get('promoted_by') or m.get('decision') or ''}")
        if not versions:
            console.print(f"Job {name} has no model versions yet.")
            return
        console.print(table)
        for line in decisions:
            console.print(line, highlight=False)


def _score(value: object) -> str:
    return "–" if not isinstance(value, int | float) else f"{value:.3f}"

"""`groundswell simulate`: answer a job with a simulated crowd and report what it cost and how right it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from groundswell.cli._common import console, handle_errors, state
from groundswell.errors import UsageError
from groundswell.sim import load_pool, simulate_job
from groundswell.sim.driver import ANSWERS_PER_MINUTE

__all__ = ["register", "simulate_command"]


def simulate_command(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="Job to answer (its items need gold labels).")],
    pool: Annotated[Path, typer.Option("--pool", help="Pool JSON: explicit confusion matrices or parametric.")],
    report: Annotated[Path, typer.Option("--report", help="Where to write the JSON report.")],
    seed: Annotated[int, typer.Option(help="Seed for who answers and what they answer.")] = 0,
    max_judgments: Annotated[int | None, typer.Option(help="Stop after this many answers.", min=1)] = None,
    answers_per_minute: Annotated[
        int,
        typer.Option(
            help="The simulated crowd's pace: a full consolidation every this many answers, as the runner does "
            "once a minute (counted in answers, so the same seed gives the same result on any machine).",
            min=1,
        ),
    ] = ANSWERS_PER_MINUTE,
) -> None:
    """Drive JOB to the end with simulated annotators (same routing and submit code as the API), then write
    {"items", "human_judgments", "judgments_per_item", "machine_labeled", "accuracy", "accuracy_human",
    "accuracy_machine", "accuracy_target"} measured against the items' gold labels.

    Example: groundswell simulate launch-sentiment --pool pool.json --report report.json
    """
    with handle_errors():
        crowd = load_pool(pool)
        with console.status("simulating annotators…") as status:
            result = simulate_job(
                state(ctx).store(),
                job,
                crowd,
                random_state=seed,
                max_judgments=max_judgments,
                answers_per_minute=answers_per_minute,
                on_progress=lambda n: status.update(f"simulating annotators… {n:,} answers"),
            )
        try:
            report.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{report}: cannot write the report: {exc.strerror or exc}") from exc

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    console.print(
        f"{result.items:,} tweets: {result.human_judgments:,} human answers ({result.judgments_per_item:.2f} per "
        f"tweet), {result.machine_labeled:,} machine-labeled. Accuracy vs gold {pct(result.accuracy)} (human "
        f"{pct(result.accuracy_human)}, machine {pct(result.accuracy_machine)}). Report: {report}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add the command to the root app."""
    app.command("simulate")(simulate_command)

"""`groundswell demo`: the quick start on embedded defaults — the bundled sample tweets, a labeling job with
three annotator invites and an admin key, and the service on 127.0.0.1:8000."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from groundswell import jobs
from groundswell.cli._common import console, handle_errors, state
from groundswell.cli.web import serve_command
from groundswell.errors import NotFoundError
from groundswell.ingest import ReadOptions, describe_dataset, import_dataset
from groundswell.store.db import transaction

SAMPLE_DATASET = "sample-tweets"
DEMO_JOB = "demo-sentiment"
DEMO_ANNOTATORS = ("ana@example.org", "ben@example.org", "chen@example.org")


def _sample(name: str) -> str:
    """Files bundled with the package: 303 tweets written for this project, and labeling instructions."""
    return str(resources.files("groundswell") / "sample_data" / name)


def demo_command(
    ctx: typer.Context,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the service after setting up.")] = True,
    port: Annotated[int, typer.Option(help="Port for the service.")] = 8000,
) -> None:
    """Import the sample tweets, create a demo job with three annotator invites, and start the service.

    Example: groundswell demo
    """
    with handle_errors():
        app_state = state(ctx)
        factory = app_state.store()
        settings = app_state.settings
        console.print(f"Database: {app_state.engine.url.render_as_string(hide_password=True)}")
        try:
            describe_dataset(factory, SAMPLE_DATASET, sample_size=0)
            console.print(f"Dataset [bold]{SAMPLE_DATASET}[/] already imported.")
        except NotFoundError:
            report = import_dataset(
                factory,
                _sample("tweets.jsonl"),
                name=SAMPLE_DATASET,
                options=ReadOptions(id_column="id", label_column="label"),
            )
            console.print(f"Imported {report.imported} sample tweets into dataset [bold]{SAMPLE_DATASET}[/].")
        _print_summary(factory)
        base = settings.public_url.rstrip("/") if port == 8000 else f"http://127.0.0.1:{port}"
        with transaction(factory) as session:
            try:
                job = jobs.get_job(session, DEMO_JOB)
                console.print(f"Job [bold]{DEMO_JOB}[/] exists ({job.state.value}).")
            except NotFoundError:
                spec = jobs.JobSpec(
                    name=DEMO_JOB,
                    dataset=SAMPLE_DATASET,
                    labels=["positive", "negative", "neutral"],
                    instructions_md=Path(_sample("instructions.md")).read_text(encoding="utf-8"),
                    workers_per_item=3,
                    teams=["demo"],
                )
                jobs.ensure_team(session, "demo")
                job = jobs.create_job(session, spec)
                jobs.change_state(session, DEMO_JOB, "start")
                console.print(f"Created and started job [bold]{DEMO_JOB}[/]: 3 answers per tweet, labels 1/2/3.")
            _, key = jobs.create_admin(session, "admin@example.org", "Demo admin")
            links = []
            for email in DEMO_ANNOTATORS:
                worker, token = jobs.create_invite(
                    session, email, team="demo", valid_for=timedelta(days=settings.invite_days)
                )
                links.append((worker.display_name, f"{base}/invite/{token}"))
        console.print(f"\nAdmin: {base}/admin/login  with API key:")
        console.print(key, markup=False, highlight=False, soft_wrap=True)
        console.print("\nAnnotator invite links (each works once; open them in different browsers or profiles):")
        for name, link in links:
            console.print(f"  {name}: {link}", markup=False, highlight=False, soft_wrap=True)
    if serve:
        console.print()
        serve_command(ctx, host="127.0.0.1", port=port, workers=1, log_level="warning", runner=True)


def _print_summary(factory: object) -> None:
    summary = describe_dataset(factory, SAMPLE_DATASET, sample_size=3)  # type: ignore[arg-type]
    table = Table("gold label", "tweets", title=f"{summary.name}: {summary.items} tweets")
    for label, count in summary.gold_distribution.items():
        table.add_row(label, str(count))
    console.print(table)

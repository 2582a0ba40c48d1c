"""`groundswell demo`: the quick start on embedded defaults with the bundled sample tweets."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

import typer
from rich.table import Table

from groundswell.cli._common import console, handle_errors, state
from groundswell.errors import NotFoundError
from groundswell.ingest import ReadOptions, describe_dataset, import_dataset

SAMPLE_DATASET = "sample-tweets"


def sample_path() -> str:
    """The bundled sample manifest (300 tweets written for this project, each with a gold label)."""
    return str(resources.files("groundswell") / "sample_data" / "tweets.jsonl")


def demo_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="Name for the sample dataset.")] = SAMPLE_DATASET,
) -> None:
    """Create the database, import the bundled sample tweets and summarise them.

    Example: groundswell demo
    """
    with handle_errors():
        app_state = state(ctx)
        factory = app_state.store()
        console.print(f"Database: {app_state.engine.url.render_as_string(hide_password=True)}")
        try:
            describe_dataset(factory, dataset, sample_size=0)
            console.print(f"Dataset [bold]{dataset}[/] already imported; showing it.")
        except NotFoundError:
            report = import_dataset(
                factory,
                sample_path(),
                name=dataset,
                options=ReadOptions(id_column="id", label_column="label"),
            )
            console.print(f"Imported {report.imported} sample tweets into dataset [bold]{dataset}[/].")
        summary = describe_dataset(factory, dataset, sample_size=5)
        table = Table("gold label", "tweets", title=f"{summary.name}: {summary.items} tweets")
        for label, count in summary.gold_distribution.items():
            table.add_row(label, str(count))
        console.print(table)
        samples = Table("id", "tweet", "gold")
        for row in summary.sample:
            samples.add_row(str(row["id"]), str(row["text"]), str(row["gold"]))
        console.print(samples)
        console.print(
            "Next: `groundswell dataset show sample-tweets`, or import your own tweets with "
            "`groundswell dataset import FILE --name NAME`."
        )

"""`groundswell dataset ...`: import, list, show and export datasets."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from groundswell.cli._common import EXIT_INPUT, console, err_console, handle_errors, state
from groundswell.domain import InputFormat

if TYPE_CHECKING:  # the ingest package (fsspec, SQLAlchemy) loads when a command runs, not for --help
    from groundswell.ingest import ImportReport

app = typer.Typer(help="Import, inspect and export datasets of tweets.", no_args_is_help=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:>10,} rows  {task.fields[rate]:>8,.0f} rows/s"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


@app.command("import")
def import_command(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="File, TweetEval folder, or s3://bucket/key.")],
    name: Annotated[str, typer.Option("--name", help="Dataset to create (or append to).")],
    text_column: Annotated[str | None, typer.Option(help="CSV/Parquet column with the tweet text.")] = None,
    id_column: Annotated[str | None, typer.Option(help="Column (or manifest attribute) with a stable id.")] = None,
    label_column: Annotated[str | None, typer.Option(help="Column (or attribute) with a gold label.")] = None,
    split: Annotated[str | None, typer.Option(help="TweetEval folder: import only this split.")] = None,
    fmt: Annotated[InputFormat | None, typer.Option("--format", help="Override format detection.")] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good rows; write rejected ones to a report.")
    ] = False,
    report: Annotated[Path | None, typer.Option(help="Where --skip-invalid writes the rejected rows.")] = None,
) -> None:
    """Import tweets from a Ground Truth manifest, CSV/TSV, Parquet or a TweetEval folder.

    Examples:
      groundswell dataset import tweets.manifest --name launch
      groundswell dataset import tweets.csv --name launch --text-column body --id-column tweet_id
      groundswell dataset import ../shared/data/tweeteval-sentiment --name tweeteval --split val
      groundswell dataset import s3://bucket/tweets.jsonl --name launch
    """
    from groundswell.ingest import ReadOptions, import_dataset

    with handle_errors():
        app_state = state(ctx)
        settings = app_state.settings
        options = ReadOptions(
            text_column=text_column,
            id_column=id_column,
            label_column=label_column,
            split=split,
            storage_options=settings.storage_options(),
            max_line_bytes=settings.max_line_bytes,
        )
        if skip_invalid and report is None:
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
            report = settings.data_dir / "import-reports" / f"{safe}-{time.strftime('%Y%m%dT%H%M%S')}.rejected.jsonl"
        factory = app_state.store()
        with _progress() as progress:
            task = progress.add_task(f"Importing {path}", total=None, rows=0, rate=0.0)
            started = time.perf_counter()

            def on_progress(rows: int, position: int, total: int | None) -> None:
                rate = rows / max(time.perf_counter() - started, 1e-9)
                progress.update(task, completed=position, total=total, rows=rows, rate=rate)

            result = import_dataset(
                factory,
                path,
                name=name,
                options=options,
                fmt=fmt,
                skip_invalid=skip_invalid,
                report_path=report,
                batch_size=settings.import_batch_size,
                on_progress=on_progress,
            )
        _print_report(result, time.perf_counter() - started)
        if result.imported == 0 and result.rejected:
            raise typer.Exit(EXIT_INPUT)


def _print_report(result: ImportReport, seconds: float) -> None:
    verb = "Created" if result.created_dataset else "Appended to"
    console.print(
        f"{verb} dataset [bold]{result.dataset}[/]: imported {result.imported:,} of {result.rows_read:,} rows "
        f"({result.format}) in {seconds:.1f} s."
    )
    if result.duplicate_ids:
        console.print(f"Skipped {result.duplicate_ids:,} duplicate(s) of items already imported (same id):")
    if result.duplicate_texts:
        console.print(f"Imported {result.duplicate_texts:,} item(s) whose text repeats another item's:")
    for dup in result.duplicates[:10]:
        kind = "same id as" if dup.same_id else "same text as"
        console.print(f"  line {dup.line}: id {dup.external_id} — {kind} {dup.first_seen}", markup=False)
    if len(result.duplicates) > 10:
        console.print(f"  … {result.duplicate_ids + result.duplicate_texts - 10:,} more")
    if result.rejected:
        console.print(f"[yellow]Rejected {result.rejected:,} invalid row(s)[/]; report: {result.report_path}")
        for problem in result.problems[:10]:
            console.print(f"  {problem}", markup=False, highlight=False)


@app.command("list")
def list_command(ctx: typer.Context) -> None:
    """List datasets with their item and gold-label counts.

    Example: groundswell dataset list
    """
    with handle_errors():
        from groundswell.ingest import list_datasets

        rows = list_datasets(state(ctx).store())
        if not rows:
            console.print("No datasets yet. Try: groundswell dataset import FILE --name NAME")
            return
        table = Table("name", "items", "with gold", "created (UTC)")
        for name, items, gold, created in rows:
            table.add_row(name, f"{items:,}", f"{gold:,}", created)
        console.print(table)


@app.command("show")
def show_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    sample: Annotated[int, typer.Option(help="How many sample rows to show.")] = 5,
) -> None:
    """Counts, gold-label distribution and sample rows of one dataset.

    Example: groundswell dataset show tweeteval
    """
    with handle_errors():
        from groundswell.ingest import describe_dataset

        summary = describe_dataset(state(ctx).store(), name, sample_size=sample)
        console.print(f"[bold]{summary.name}[/]: {summary.items:,} items, {summary.gold_items:,} with a gold label")
        console.print(f"created {summary.created_at} UTC; attributes: {', '.join(summary.attribute_names) or '—'}")
        if summary.gold_distribution:
            table = Table("gold label", "items", "share")
            for label, count in summary.gold_distribution.items():
                table.add_row(label, f"{count:,}", f"{count / max(summary.gold_items, 1):.1%}")
            console.print(table)
        rows = Table("id", "text", "gold", show_lines=False)
        for row in summary.sample:
            rows.add_row(str(row["id"]), str(row["text"]), str(row["gold"] or ""))
        console.print(rows)


@app.command("export")
def export_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    out: Annotated[str, typer.Option("--out", help="Output JSONL path or s3:// URL.")],
) -> None:
    """Write a dataset as a Ground Truth input manifest (JSON Lines) that re-imports to the same items.

    Example: groundswell dataset export tweeteval --out tweeteval.manifest
    """
    with handle_errors():
        app_state = state(ctx)
        from groundswell.ingest import export_dataset

        count = export_dataset(app_state.store(), name, out, storage_options=app_state.settings.storage_options())
        console.print(f"Wrote {count:,} lines to {out}.")

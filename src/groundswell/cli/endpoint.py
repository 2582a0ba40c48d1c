"""`groundswell endpoint serve` and `groundswell predict`: real-time and batch predictions from a trained model."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from groundswell.cli._common import console, err_console, handle_errors, state
from groundswell.errors import UsageError
from groundswell.jobs import get_job
from groundswell.ml import read_card
from groundswell.serve import EndpointConfig, predict_file, run_endpoint
from groundswell.serve.batch import ENGINES
from groundswell.telemetry.logs import configure_logging

__all__ = ["endpoint_app", "predict_command", "register", "serve_command"]

endpoint_app = typer.Typer(help="Serve a trained model on a SageMaker-compatible HTTP endpoint.", no_args_is_help=True)


@endpoint_app.command("serve")
def serve_command(
    ctx: typer.Context,
    model_dir: Annotated[str, typer.Argument(help="Model folder written by `groundswell train`.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (SageMaker containers use 8080).")] = 8080,
    workers: Annotated[int, typer.Option(help="Server processes; each loads the model once.")] = 1,
    capture_dir: Annotated[
        str | None, typer.Option(help="Write each request and response to JSON Lines under this folder.")
    ] = None,
    capture_sampling: Annotated[float, typer.Option(help="Percentage of requests to capture (0-100).")] = 100.0,
    reload_interval: Annotated[
        float, typer.Option(help="Seconds between checks for a new model in MODEL_DIR (0: never swap).")
    ] = 2.0,
    max_batch: Annotated[int, typer.Option(help="Most tweets predicted together in one micro-batch.")] = 512,
    max_wait_ms: Annotated[float, typer.Option(help="Under load, how long a micro-batch waits to fill.")] = 1.0,
    review_job: Annotated[
        str | None,
        typer.Option(
            help="A streaming job: tweets predicted with confidence below --review-below are also appended to it "
            "for people to label (the answer still goes out at once)."
        ),
    ] = None,
    review_below: Annotated[float, typer.Option(help="With --review-job: the confidence under which.")] = 0.8,
) -> None:
    """Serve GET /ping, POST /invocations (JSON, JSON Lines, CSV) and /predict until interrupted.

    Writing a new model into MODEL_DIR (`groundswell train --out MODEL_DIR`) swaps it in without downtime.

    Examples:
      groundswell endpoint serve models/launch-v1 --port 8080 --workers 2
      curl -s localhost:8080/invocations -H 'Content-Type: application/json' -d '{"instances": ["love it"]}'
      curl -s 'localhost:8080/predict?text=what+a+day'
      groundswell endpoint serve models/launch-v1 --review-job brand-watch --review-below 0.8
    """
    with handle_errors():
        card = read_card(model_dir)
        if workers < 1:
            raise UsageError("--workers must be at least 1")
        if review_job is not None:
            if not 0.0 < review_below <= 1.0:
                raise UsageError(f"--review-below must be in (0, 1], got {review_below}")
            with state(ctx).store()() as session:  # refuse a missing or batch job before serving anything
                found = get_job(session, review_job)
                if not (found.settings or {}).get("streaming"):
                    raise UsageError(f"job {found.name!r} is not a streaming job: create one with --streaming")
        settings = state(ctx).settings
        banner = (
            f"Serving {card.model_type} ({', '.join(card.labels)}) from {model_dir} on http://{host}:{port} "
            f"with {workers} worker(s)"
        )
        if settings.log_format == "json":  # then every line the endpoint writes is JSON, this one too
            configure_logging("json")
            logging.getLogger("groundswell.cli").info(banner)
        else:
            console.print(banner)
        config = EndpointConfig(
            model_dir=model_dir,
            capture_dir=capture_dir,
            capture_sampling=capture_sampling,
            reload_interval_s=reload_interval,
            max_batch=max_batch,
            max_wait_s=max_wait_ms / 1000.0,
            workers=workers,
            log_format=settings.log_format,
            metrics=settings.metrics,
            review_job=review_job,
            review_below=review_below,
            database_url=settings.database_url if review_job is not None else None,
        )
        run_endpoint(config, host=host, port=port, log_level="warning")


def predict_command(
    ctx: typer.Context,
    model_dir: Annotated[str, typer.Argument(help="Model folder written by `groundswell train`.")],
    input_uri: Annotated[str, typer.Argument(metavar="INPUT", help="JSONL/manifest, CSV or Parquet; local or s3://.")],
    out: Annotated[str, typer.Option("--out", help="Output file (format from its suffix); local or s3://.")],
    text_field: Annotated[
        str | None, typer.Option(help="Attribute or column with the text (default: source, text or tweet).")
    ] = None,
    processes: Annotated[int | None, typer.Option(help="Worker processes (default: CPU count, at most 8).")] = None,
    engine: Annotated[
        str, typer.Option(help="Execution engine: local (processes here) or ray (a Ray cluster; groundswell[ray]).")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(help="Ray cluster for --engine ray (ray://host:10001 or host:6379; default: a local Ray)."),
    ] = None,
    creation_date: Annotated[
        str | None,
        typer.Option(help="The creation-date written on every line (ISO 8601, e.g. 2024-01-01T00:00:00.000000)."),
    ] = None,
) -> None:
    """Predict every line of INPUT; each output line is the input line plus the label in output-manifest shape.

    Examples:
      groundswell predict models/launch-v1 tweets.manifest --out predictions.manifest
      groundswell predict models/launch-v1 s3://bucket/tweets.parquet --out s3://bucket/predicted.jsonl
      groundswell predict models/launch-v1 tweets.jsonl --out out.jsonl --engine ray --ray-address ray://head:10001
    """
    with handle_errors():
        if engine not in ENGINES:
            raise UsageError(f"--engine {engine!r} is not known; use one of: {', '.join(ENGINES)}")
        if ray_address is not None and engine != "ray":
            raise UsageError("--ray-address needs --engine ray")
        if creation_date is not None:
            try:
                datetime.fromisoformat(creation_date)
            except ValueError as exc:
                raise UsageError(f"--creation-date {creation_date!r} is not an ISO 8601 date and time") from exc
        read_card(model_dir)
        remote = "://" in input_uri or "://" in out
        options = state(ctx).settings.storage_options() if remote else None
        with Progress(
            TextColumn("[bold]Predicting"),
            BarColumn(),
            TextColumn("{task.completed:,} rows"),
            TimeElapsedColumn(),
            console=err_console,
        ) as progress:
            task = progress.add_task("predict", total=None)
            report = predict_file(
                model_dir,
                input_uri,
                out,
                text_field=text_field,
                processes=processes,
                storage_options=options,
                on_progress=lambda rows: progress.update(task, completed=rows),
                engine=engine,
                ray_address=ray_address,
                created=creation_date,
            )
        rate = report.rows / max(report.seconds, 1e-9)
        console.print(
            f"Wrote {report.rows:,} lines to {report.output} ({report.predicted:,} predicted, "
            f"{report.skipped_no_text:,} without text copied through) in {report.seconds:.1f} s ({rate:,.0f} rows/s)."
        )


def register(app: typer.Typer) -> None:
    """Add `endpoint serve` and `predict` to the root app."""
    app.add_typer(endpoint_app, name="endpoint")
    app.command("predict")(predict_command)

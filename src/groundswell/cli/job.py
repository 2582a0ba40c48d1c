"""`groundswell job ...`: create labeling jobs, move them through their states, consolidate their answers and
export their results. Thin: the work is in ``groundswell.jobs``; this module maps options to calls and prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from groundswell import jobs
from groundswell.cli import job_correct, job_drift, job_models, job_webhooks
from groundswell.cli._common import console, err_console, handle_errors, state
from groundswell.consolidate import METHODS
from groundswell.domain import InputFormat
from groundswell.errors import InvalidInputError, UsageError
from groundswell.jobs import get_job
from groundswell.jobs.consolidation import consolidate_job
from groundswell.jobs.exports import FORMATS, export_job, write_worker_responses_jsonl
from groundswell.jobs.label_feed import export_feed, parse_since
from groundswell.jobs.worker_agreement import agreement_summary
from groundswell.store.db import transaction

app = typer.Typer(help="Create labeling jobs and start, pause or stop them.", no_args_is_help=True)


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: the {what} is not UTF-8 text") from exc


@app.command("create")
def create_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="Dataset to label (see `groundswell dataset list`).")],
    name: Annotated[str, typer.Option(help="Job name: letters, digits, hyphens; unique ignoring case.")],
    labels: Annotated[
        str | None, typer.Option(help="Comma-separated labels; their order fixes the class index.")
    ] = None,
    label_config: Annotated[
        Path | None, typer.Option(help='Ground Truth label category file: {"document-version", "labels": [...]}.')
    ] = None,
    instructions: Annotated[Path | None, typer.Option(help="Markdown file with instructions and examples.")] = None,
    workers_per_item: Annotated[
        int | None, typer.Option(help="Answers per tweet to start with, 1–9 (3; with --accuracy-target: 1).")
    ] = None,
    task_time_limit: Annotated[int, typer.Option(help="Seconds a task stays reserved for its annotator.")] = 300,
    task_availability: Annotated[int, typer.Option(help="Seconds tasks stay available after the job starts.")] = (
        30 * 24 * 3600
    ),
    max_concurrent_tasks: Annotated[int | None, typer.Option(help="Most tweets in progress at once.")] = None,
    label_attribute_name: Annotated[
        str | None, typer.Option(help="Output manifest attribute (default: the job name).")
    ] = None,
    team: Annotated[
        list[str] | None, typer.Option(help="Team that may work on it (repeat); default: everyone.")
    ] = None,
    dynamic_redundancy: Annotated[
        bool, typer.Option("--dynamic-redundancy", help="Ask for more answers only while a tweet is unsure.")
    ] = False,
    max_workers_per_item: Annotated[
        int | None,
        typer.Option(
            help="With --dynamic-redundancy: most answers a tweet may get (up to 9; default 5, and at least "
            "--workers-per-item + 2)."
        ),
    ] = None,
    redundancy_threshold: Annotated[
        float | None,
        typer.Option(help="With --dynamic-redundancy: confidence at which a tweet stops (0.7; posterior: 0.64)."),
    ] = None,
    redundancy_rule: Annotated[
        str | None,
        typer.Option(
            help="With --dynamic-redundancy: vote (majority-vote share, default) | posterior (worker skills and "
            "the model's vote; the runner reviews answered tweets and also gives the final labels)."
        ),
    ] = None,
    consolidation_method: Annotated[
        str | None,
        typer.Option(
            help="mv | wmv | ds | ods | glad | mace | auto: the model that consolidates the answers (auto; with "
            "--accuracy-target or --preset: ds)."
        ),
    ] = None,
    auto_label: Annotated[
        bool, typer.Option("--auto-label", help="Automated labeling + active learning (jobs of 1,250+ tweets).")
    ] = False,
    accuracy_target: Annotated[
        float | None,
        typer.Option(
            help="Accuracy every final label must meet, e.g. 0.9. Alone, it turns on what meets it cheaply: one "
            "answer per tweet, more only where they pay most until the job's estimated accuracy meets it, "
            "machine labels certified at it, active learning. With --preset ground-truth: the machine labels' target."
        ),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="ground-truth: Ground Truth's behaviour (3 answers, modified Dawid–Skene, machine labels at 95 % "
            "by point estimate)."
        ),
    ] = None,
    gold_items: Annotated[
        int,
        typer.Option(
            min=0,
            help="Random tweets with a gold label in the dataset to serve as hidden test questions: they measure "
            "the workers and correct the job's accuracy estimate (never labeled or exported).",
        ),
    ] = 0,
    seed_size: Annotated[
        int | None, typer.Option(help="With --auto-label: random tweets people label before the first model (500).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="With --auto-label: new human labels between rounds (250).")
    ] = None,
    budget: Annotated[int | None, typer.Option(help="With --auto-label: most human answers to spend.")] = None,
    model_vote: Annotated[
        bool | None,
        typer.Option(
            "--model-vote/--no-model-vote",
            help="With --auto-label: store the model's vote on open tweets, the prior of --redundancy-rule "
            "posterior (default: on under that rule, else off).",
        ),
    ] = None,
    streaming: Annotated[
        bool,
        typer.Option(
            "--streaming",
            help="A streaming job: tweets are appended while it runs (`job append`) and it never completes by "
            "itself (`job stop` ends it); its dataset may be empty, and is created if it does not exist.",
        ),
    ] = False,
    webhook: Annotated[
        list[str] | None,
        typer.Option(help="URL to POST each final label to, signed with the job's secret (repeat for several)."),
    ] = None,
    start: Annotated[bool, typer.Option("--start", help="Start the job right away.")] = False,
) -> None:
    """Create a labeling job over a dataset.

    Example: groundswell job create --dataset launch --name launch-sentiment --labels positive,negative,neutral --start
    """
    with handle_errors():
        if (labels is None) == (label_config is None):
            raise UsageError("give exactly one of --labels and --label-config")
        if labels is not None:
            label_list = jobs.parse_labels(labels)
        else:
            assert label_config is not None
            label_list = jobs.parse_label_config(_read(label_config, "label config"), source=str(label_config))
        spec = jobs.JobSpec(
            name=name,
            dataset=dataset,
            labels=label_list,
            instructions_md=_read(instructions, "instructions") if instructions else "",
            workers_per_item=workers_per_item,
            task_time_limit_s=task_time_limit,
            task_availability_s=task_availability,
            max_concurrent_tasks=max_concurrent_tasks,
            label_attribute_name=label_attribute_name,
            teams=team or [],
            max_workers_per_item=max_workers_per_item,
            settings={
                **_consolidation_settings(
                    dynamic_redundancy,
                    redundancy_threshold,
                    consolidation_method,
                    redundancy_rule,
                    target=accuracy_target is not None,
                ),
                **_auto_label_settings(
                    auto_label or accuracy_target is not None or preset is not None,
                    seed_size,
                    batch_size,
                    budget,
                    model_vote,
                ),
            },
            accuracy_target=accuracy_target,
            preset=preset,
            gold_items=gold_items,
            streaming=streaming,
            webhooks=webhook or [],
        )
        with transaction(state(ctx).store()) as session:
            job = jobs.create_job(session, spec)
            if start:
                jobs.change_state(session, job.name, "start")
            progress = jobs.job_progress(session, job)
        target = (job.settings or {}).get("accuracy_target") if (job.settings or {}).get("auto_label") else None
        console.print(
            f"Created {'streaming ' if streaming else ''}job [bold]{job.name}[/] ({job.state.value}) over "
            f"{progress.items:,} tweets, "
            f"{job.workers_per_item} answer(s) each"
            + (f", up to {job.max_workers_per_item}" if job.max_workers_per_item > job.workers_per_item else "")
            + (f", accuracy target {target:.0%}" if target else "")
            + (f", {gold_items:,} gold" if gold_items else "")
            + "; labels: "
            + ", ".join(f"{i}={label}" for i, label in enumerate(label_list))
        )
        if job.webhook_secret is not None:
            console.print(
                f"Webhooks: {len(webhook or [])}; deliveries are signed with the job's secret "
                f"[bold]{job.webhook_secret}[/] (X-Groundswell-Signature: sha256=HMAC of the body; "
                f"`groundswell job webhook list {job.name}` shows it again)."
            )


def _consolidation_settings(
    dynamic: bool, threshold: float | None, method: str | None, rule: str | None = None, *, target: bool = False
) -> dict[str, object]:
    """The consolidation keys the flags give; ``target``: --accuracy-target was given (it implies dynamic
    redundancy, so the redundancy flags may refine it)."""
    settings: dict[str, object] = {} if method is None else {"consolidation_method": method}
    if dynamic:
        settings["dynamic_redundancy"] = True
    for flag, key, value in (
        ("--redundancy-threshold", "redundancy_threshold", threshold),
        ("--redundancy-rule", "redundancy_rule", rule),
    ):
        if value is not None:
            if not (dynamic or target):
                raise UsageError(f"{flag} needs --dynamic-redundancy (or --accuracy-target)")
            settings[key] = value
    return settings


def _auto_label_settings(
    enabled: bool,
    seed_size: int | None,
    batch_size: int | None,
    budget: int | None,
    model_vote: bool | None = None,
) -> dict[str, object]:
    given = {"seed_size": seed_size, "batch_size": batch_size, "budget": budget, "model_vote": model_vote}
    if not enabled:
        if any(value is not None for key, value in given.items() if key != "model_vote") or model_vote:
            raise UsageError(
                "--seed-size, --batch-size, --budget and --model-vote need --auto-label or --accuracy-target"
            )
        return {}
    return {"auto_label": True, **{key: value for key, value in given.items() if value is not None}}


def _transition(ctx: typer.Context, name: str, action: str) -> None:
    with handle_errors(), transaction(state(ctx).store()) as session:
        job = jobs.change_state(session, name, action)
        console.print(f"Job [bold]{job.name}[/] is now {job.state.value}.")


@app.command("start")
def start_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Job name.")]) -> None:
    """Start (or resume) a job: annotators can get tasks. Example: groundswell job start launch-sentiment"""
    _transition(ctx, name, "start")


@app.command("pause")
def pause_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Job name.")]) -> None:
    """Pause a running job: no new tasks; answers to held tasks are still accepted.

    Example: groundswell job pause launch-sentiment
    """
    _transition(ctx, name, "pause")


@app.command("stop")
def stop_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Job name.")]) -> None:
    """Stop a job for good: no new tasks and no more answers.

    Example: groundswell job stop launch-sentiment
    """
    _transition(ctx, name, "stop")


@app.command("append")
def append_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Streaming job to append to.")],
    path: Annotated[str, typer.Argument(help="File, TweetEval folder, or s3://bucket/key (as for dataset import).")],
    text_column: Annotated[str | None, typer.Option(help="CSV/Parquet column with the tweet text.")] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            help="Column (or attribute) with a stable id, required on every row. Default: the dataset's id "
            "column, else 'id', on the rows that have it (the others get an id from their text)."
        ),
    ] = None,
    label_column: Annotated[str | None, typer.Option(help="Column (or attribute) with a gold label.")] = None,
    split: Annotated[str | None, typer.Option(help="TweetEval folder: append only this split.")] = None,
    fmt: Annotated[InputFormat | None, typer.Option("--format", help="Override format detection.")] = None,
) -> None:
    """Append tweets to a running streaming job: they join its dataset and are labeled like the others.

    All or nothing: one invalid row (named by file and line) appends nothing. Tweets whose id the dataset
    already holds are skipped and listed, so re-running an append adds nothing twice. A job created without
    --streaming refuses (exit code 1).

    Example: groundswell job append brand-watch new-tweets.jsonl
    """
    from groundswell.ingest import ReadOptions
    from groundswell.ingest.importer import import_into
    from groundswell.jobs.append import append_to_job

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
        with transaction(app_state.store()) as session:
            result = append_to_job(
                session,
                name,
                lambda dataset: import_into(
                    session,
                    path,
                    name=dataset.name,
                    options=options.with_optional_id(dataset.id_column),
                    fmt=fmt,
                    batch_size=settings.import_batch_size,
                ),
            )
        report = result.report
        console.print(
            f"Appended {result.appended:,} tweet(s) to job [bold]{result.job}[/] (dataset {result.dataset}) "
            f"from {report.rows_read:,} row(s) ({report.format})."
        )
        if report.duplicate_ids:
            console.print(f"Skipped {report.duplicate_ids:,} tweet(s) already in the dataset (same id):")
        for dup in [d for d in report.duplicates if d.same_id][:10]:
            console.print(f"  line {dup.line}: id {dup.external_id} — first seen at {dup.first_seen}", markup=False)
        if report.duplicate_ids > 10:
            console.print(f"  … {report.duplicate_ids - 10:,} more")


@app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Jobs with their state and progress.

    Example: groundswell job list
    """
    with handle_errors(), transaction(state(ctx).store()) as session:
        table = Table("job", "state", "done", "in progress", "open", "judgments", "annotators active")
        for job in jobs.list_jobs(session):
            p = jobs.job_progress(session, job)
            table.add_row(
                job.name,
                job.state.value,
                f"{p.done:,}/{p.items:,}",
                f"{p.in_progress:,}",
                f"{p.open:,}",
                f"{p.judgments:,}/{p.judgments_wanted:,}",
                str(p.active_annotators),
            )
        console.print(table)


@app.command("show")
def show_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Job name.")]) -> None:
    """Progress, estimated accuracy, answers spent and projected, and each annotator's count and pace.

    Example: groundswell job show launch-sentiment
    """
    with handle_errors(), transaction(state(ctx).store()) as session:
        job = jobs.get_job(session, name)
        p = jobs.job_progress(session, job)
        console.print(
            f"[bold]{job.name}[/] ({job.state.value}): {p.done:,}/{p.items:,} tweets done, {p.in_progress:,} in "
            f"progress, {p.open:,} open; {p.judgments:,} of {p.judgments_wanted:,} answers"
        )
        q = jobs.job_quality(session, job)
        target = f" (target {q.target:.1%})" if q.target is not None else ""
        if q.estimate is not None:
            e = q.estimate
            console.print(
                f"Estimated accuracy {e.accuracy:.1%}, 95 % interval {e.low:.1%}–{e.high:.1%}{target}, over "
                f"{q.labeled:,} labels ({q.machine_labeled:,} by the model); {q.basis}.",
                highlight=False,
            )
        else:
            console.print(f"Estimated accuracy: {q.basis}{target}.", highlight=False)
        console.print(
            f"Human answers: {q.answers_spent:,} spent, about {q.answers_projected:,} projected to finish "
            f"({q.answers_projected / max(q.items, 1):.2f} per tweet).",
            highlight=False,
        )
        table = Table("annotator", "answers", "median s/tweet", "tweets/hour")
        for a in jobs.annotator_stats(session, job):
            table.add_row(
                a.name,
                str(a.judgments),
                f"{a.median_seconds:.1f}" if a.median_seconds is not None else "—",
                f"{a.per_hour:.0f}" if a.per_hour is not None else "—",
            )
        console.print(table)


@app.command("responses")
def responses_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name.")],
    out: Annotated[Path, typer.Option("--out", help="JSON Lines file to write.")],
) -> None:
    """Raw answers in Ground Truth's worker-response shape, one item per line.

    Example: groundswell job responses launch-sentiment --out responses.jsonl
    """
    with handle_errors(), transaction(state(ctx).store()) as session, out.open("w", encoding="utf-8") as handle:
        count = write_worker_responses_jsonl(session, jobs.get_job(session, name), handle)
    console.print(f"Wrote worker responses for {count:,} tweets to {out}.")


def _figure(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def consolidate_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name.")],
    method: Annotated[
        str | None,
        typer.Option(
            help="mv | wmv | ds | ods | glad | mace | auto; default: the job's setting (auto unless set at creation)."
        ),
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
    since: Annotated[
        str | None,
        typer.Option(
            help="Only the labels that became final after this feed cursor (0: from the start), in that order; "
            "prints the cursor to pass next time. Output manifest only."
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
      groundswell job export launch-sentiment --since 0 --out new.manifest   # then --since <the printed cursor>
    """
    with handle_errors():
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        app_state = state(ctx)
        if since is not None:
            if fmt != "manifest" or worker_responses is not None:
                raise UsageError("--since writes the output manifest only (no --format, no --worker-responses)")
            feed = export_feed(
                app_state.store(),
                name,
                out,
                since=parse_since(since),
                storage_options=app_state.settings.storage_options(),
            )
            console.print(f"Wrote {feed.lines:,} label(s) final after {feed.since} to {feed.out}")
            console.print(f"next since: {feed.next_since}")
            return
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


app.command("consolidate")(consolidate_command)
app.command("export")(export_command)

app.add_typer(job_webhooks.app, name="webhook")
app.command("drift")(job_drift.drift_command)
app.command("correct")(job_correct.correct_command)
app.command("model-loop")(job_models.model_loop_command)
app.command("models")(job_models.models_command)

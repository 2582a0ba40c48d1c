"""`groundswell runner`: the background worker that drains the work queue (consolidation rounds, …).

Run one per machine, or several: on PostgreSQL they share the queue without double work. Stops cleanly on
Ctrl-C or SIGTERM after the row in hand.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

import typer

from groundswell.cli._common import console, handle_errors, state
from groundswell.runner import (
    STALE_AFTER,
    WorkOutcome,
    default_runner_id,
    make_handlers,
    queue_counts,
    run_forever,
    run_pending,
)
from groundswell.runner.webhooks import WebhookSender, deliver_pending, run_deliveries
from groundswell.store.db import transaction
from groundswell.telemetry.logs import configure_logging

__all__ = ["register", "runner_command"]

_log = logging.getLogger("groundswell.runner")


def _print(outcome: WorkOutcome) -> None:
    colour = {"done": "green", "queued": "yellow", "failed": "red"}.get(outcome.state.value, "white")
    detail = outcome.result if outcome.result is not None else (outcome.error or "").splitlines()[0]
    console.print(
        f"[{colour}]{outcome.state.value}[/] work {outcome.work_id} ({outcome.kind}, job {outcome.job_id}): {detail}",
        highlight=False,
    )


def runner_command(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run what is due now, then exit.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds to wait when nothing is due.", min=0.1)] = 5.0,
    every: Annotated[
        float, typer.Option(help="Least seconds between full consolidations of a job that keeps changing.", min=1)
    ] = 60.0,
    runner_id: Annotated[
        str | None, typer.Option("--id", help="Name recorded on claimed work (default host:pid).")
    ] = None,
    stale_after: Annotated[
        float,
        typer.Option(
            help="Seconds a running item may go without a heartbeat before another runner takes it over as "
            "abandoned (its runner died); a live runner beats every quarter of this. Use one value on every runner.",
            min=1,
        ),
    ] = STALE_AFTER.total_seconds(),
) -> None:
    """Run background work: full consolidation of jobs with new answers (periodically and at job end),
    automated-labeling rounds (their models saved under DATA_DIR/models), dynamic-redundancy reviews, model-loop
    retrains (`job model-loop`), and the jobs' webhook deliveries (each final label POSTed, retried until the
    receiver answers 2xx).

    Examples:
      groundswell runner
      groundswell runner --once
    """
    with handle_errors():
        configure_logging(state(ctx).settings.log_format)
        # With JSON logs the outcome lines come from the runner's own log (groundswell.runner.loop); the
        # coloured lines are for people.
        json_logs = state(ctx).settings.log_format == "json"
        say: Callable[[str], None] = _log.info if json_logs else console.print
        report = None if json_logs else _print
        factory = state(ctx).store()
        name = runner_id or default_runner_id()
        handlers = make_handlers(artifact_dir=state(ctx).settings.data_dir / "models")
        if once:
            outcomes = run_pending(
                factory,
                runner_id=name,
                every=timedelta(seconds=every),
                handlers=handlers,
                stale_after=timedelta(seconds=stale_after),
            )
            if report is not None:
                for outcome in outcomes:
                    report(outcome)
            with WebhookSender() as sender:
                sent = deliver_pending(factory, sender)
            with transaction(factory) as session:
                counts = queue_counts(session)
            delivered = sum(o.delivered for o in sent)
            say(
                f"Ran {len(outcomes)} item(s); queue: {counts or 'empty'}; webhook deliveries: {delivered} "
                f"delivered, {len(sent) - delivered} to retry"
            )
            return
        stop = threading.Event()

        def _stop(_signum: int, _frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        deliveries = threading.Thread(
            target=run_deliveries, args=(factory,), kwargs={"stop": stop}, daemon=True, name="webhooks"
        )
        deliveries.start()
        say(f"Runner {name} started; Ctrl-C to stop.")
        try:
            run_forever(
                factory,
                runner_id=name,
                poll=poll,
                every=timedelta(seconds=every),
                stop=stop,
                on_outcome=report,
                handlers=handlers,
                stale_after=timedelta(seconds=stale_after),
            )
        except KeyboardInterrupt:
            stop.set()
        deliveries.join(timeout=15)
        say(f"Runner {name} stopped.")


def register(app: typer.Typer) -> None:
    """Add the ``runner`` command to the root app."""
    app.command("runner")(runner_command)

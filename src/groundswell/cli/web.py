"""`groundswell serve`: the web app (API, annotator UI, admin pages) under uvicorn."""

from __future__ import annotations

import logging
import os
import threading
from typing import Annotated

import typer
import uvicorn

from groundswell.cli._common import console, err_console, handle_errors, state
from groundswell.telemetry.http import prepare_multiprocess_dir
from groundswell.telemetry.logs import configure_logging, uvicorn_log_config

_log = logging.getLogger("groundswell.cli")


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (share one database).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    runner: Annotated[
        bool,
        typer.Option(
            "--runner/--no-runner",
            help="Also run the background runner (consolidation, auto-label rounds) in this process; "
            "on a team server run `groundswell runner` separately instead.",
        ),
    ] = False,
) -> None:
    """Run the labeling service.

    Example: groundswell serve --host 0.0.0.0 --port 8000 --workers 4
    """
    with handle_errors():
        app_state = state(ctx)
        log_format = app_state.settings.log_format
        configure_logging(log_format)  # this process's lines: the in-process runner, the banner
        json_logs = log_format == "json"
        app_state.store()  # migrate once here, not in every worker process
        prepare_multiprocess_dir()  # before any server process counts into it
        if workers > 1 and app_state.engine.dialect.name == "sqlite":
            note = (
                "SQLite has one writer at a time, so extra processes mostly wait on each other; "
                "use PostgreSQL (GROUNDSWELL_DATABASE_URL) to serve from several processes."
            )
            if json_logs:
                _log.warning(note)
            else:
                err_console.print(f"[yellow]Note:[/] {note}")
        os.environ["GROUNDSWELL_DATABASE_URL"] = app_state.settings.database_url
        os.environ["GROUNDSWELL_DATA_DIR"] = str(app_state.settings.data_dir)
        if runner:
            from groundswell.runner import make_handlers, run_forever

            handlers = make_handlers(artifact_dir=app_state.settings.data_dir / "models")
            threading.Thread(
                target=run_forever,
                args=(app_state.store(),),
                kwargs={"poll": 2.0, "handlers": handlers},
                daemon=True,
                name="runner",
            ).start()
            from groundswell.runner.webhooks import run_deliveries

            threading.Thread(target=run_deliveries, args=(app_state.store(),), daemon=True, name="webhooks").start()
        banner = (
            f"Serving on http://{host}:{port} with {workers} process(es)"
            + (" and the background runner" if runner else "")
            + "; Ctrl+C stops."
        )
        if json_logs:
            _log.info(banner)
        else:
            console.print(banner)
    from groundswell.web.workers import reuse_port_supported, serve_processes

    if workers > 1 and reuse_port_supported():
        serve_processes(host, port, workers, log_level=log_level, log_format=log_format)  # a socket per process
        return
    uvicorn.run(
        "groundswell.web.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        # uvicorn restarts a worker that takes longer than this to start or to answer its ping (default 5 s);
        # importing the app takes 1–2 s on a quiet 2-core machine and several times that on a busy one.
        timeout_worker_healthcheck=60,
        **uvicorn_log_config(log_format),
    )

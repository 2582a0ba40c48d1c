"""The `groundswell` command: a thin Typer shell over the use-case packages."""

from __future__ import annotations

import typer

from groundswell import __version__
from groundswell.cli import consolidate, dataset, db, demo, endpoint, job, people, runner, simulate, train, web
from groundswell.cli._common import EXIT_USAGE
from groundswell.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    help="Groundswell: label tweets with a crowd, consolidate, auto-label, train and serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(dataset.app, name="dataset")
app.add_typer(job.app, name="job")
app.add_typer(people.admin_app, name="admin")
app.add_typer(people.worker_app, name="worker")
app.command("serve")(web.serve_command)
app.command("demo")(demo.demo_command)
consolidate.register(app)
runner.register(app)
train.register(app)
endpoint.register(app)
simulate.register(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"groundswell {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Settings come from GROUNDSWELL_* environment variables (see the README)."""


def main() -> None:
    """Run the command; a ``GROUNDSWELL_*`` setting that does not validate is one error line and exit 2."""
    from pydantic import ValidationError

    try:
        app()
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        for error in exc.errors():
            name = "GROUNDSWELL_" + "_".join(str(part) for part in error["loc"]).upper()
            typer.echo(f"Error: setting {name}={error.get('input')!r}: {error['msg']}", err=True)
        raise SystemExit(EXIT_USAGE) from None

"""One exception tree for the whole package.

Every layer raises these, and the two composition roots map them once: the CLI to exit codes, the web app
to HTTP statuses. Catch ``GroundswellError`` to handle anything the package reports on purpose.

    GroundswellError
    ├── InvalidInputError        bad user data: a file, a row, a column, a label (exit 1 / HTTP 422)
    │   └── RejectedInputError   an import refused; carries every problem found, by file and line
    ├── UsageError               a command or request that cannot mean anything (exit 2 / HTTP 400)
    ├── NotFoundError            a named thing does not exist (HTTP 404)
    ├── ConflictError            valid, but clashes with what is stored (HTTP 409)
    ├── PermissionDeniedError    authenticated, but not allowed (HTTP 403)
    └── MissingOptionalDependencyError   an extra is not installed; names the install command
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ConflictError",
    "GroundswellError",
    "InputProblem",
    "InvalidInputError",
    "MissingOptionalDependencyError",
    "NotFoundError",
    "PermissionDeniedError",
    "RejectedInputError",
    "UsageError",
    "error_body",
]


class GroundswellError(Exception):
    """Root of every error the package raises on purpose."""


class InvalidInputError(GroundswellError):
    """User-supplied data is wrong; the message says where and what."""


@dataclass(frozen=True)
class InputProblem:
    """One bad row: where it is and what is wrong with it."""

    source: str
    line: int | None
    problem: str
    field: str | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        field = f" [{self.field}]" if self.field else ""
        return f"{where}{field}: {self.problem}"


class RejectedInputError(InvalidInputError):
    """An import was refused as a whole; nothing from the file was stored."""

    def __init__(self, problems: Sequence[InputProblem], total: int | None = None) -> None:
        self.problems = list(problems)
        self.total = total if total is not None else len(self.problems)
        first = str(self.problems[0]) if self.problems else "no details"
        more = f" (and {self.total - 1} more problem(s))" if self.total > 1 else ""
        super().__init__(f"{first}{more}")


class UsageError(GroundswellError):
    """The request itself is malformed: a missing option, an unknown format."""


class NotFoundError(GroundswellError):
    """A named dataset, job, worker or item does not exist."""


class ConflictError(GroundswellError):
    """The request is valid but clashes with stored state (a name taken, a state change not allowed)."""


class PermissionDeniedError(GroundswellError):
    """The caller is known but may not do this."""


class MissingOptionalDependencyError(GroundswellError):
    """An optional extra is needed; the message names the exact install command."""


def error_body(message: str, status: int, errors: Sequence[str] | None = None) -> dict[str, object]:
    """The one JSON error body of every HTTP surface (the web API and the model endpoint):
    ``{"ok": false, "error": "...", "errors": [...], "status": N}``, so a client parses failures one way."""
    return {"ok": False, "error": message, "errors": list(errors) if errors else [message], "status": status}

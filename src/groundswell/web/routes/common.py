"""What the API's route modules share: path parameters with their bounds, the error responses an operation
declares, OpenAPI links, and the opaque paging cursor.

Links (``_links``) are how a client, and schemathesis's stateful phase, go from what one operation returns to
what another takes: a created dataset to its items, a page to the next page, a job to its operations.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query

from groundswell.web.deps import CredentialsDep, StoreDep, caller
from groundswell.web.schemas import JOB_NAME_PATTERN, MAX_DB_ID, error_responses

__all__ = [
    "ADMIN_ONLY",
    "CHANGES",
    "ONE_OF_MANY",
    "CursorQuery",
    "DatasetName",
    "JobName",
    "LimitQuery",
    "RowId",
    "after_id",
    "cursor_for",
    "links",
    "merged",
]

#: A row id in a path: within the databases' integer range, so a larger one is a 422 before any SQL runs.
RowId = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
#: A job's name in a path: one that no job can have is a 422, and the OpenAPI document says so.
JobName = Annotated[str, Path(min_length=1, max_length=63, pattern=JOB_NAME_PATTERN, examples=["launch-sentiment"])]
#: A dataset's name in a path: any name the CLI can give one, except that a path cannot carry '/'.
DatasetName = Annotated[
    str, Path(min_length=1, max_length=200, pattern="^[^/\\u0000-\\u001f\\u007f]+$", examples=["launch"])
]

#: What an operation on one named thing can answer besides success; one that changes something (state,
#: leases, answers) also 409, and 400 for a body that is not JSON. Every operation authenticates (401, 403,
#: 429 for guessing) and validates (422).
ONE_OF_MANY = error_responses(401, 403, 404, 422, 429)
CHANGES = error_responses(400, 401, 403, 404, 409, 422, 429)

#: Cursors are a row id in base 36: opaque to clients (who pass back what they were given), and every string
#: the pattern allows is a valid cursor (ten base-36 digits stay below 2**53), so no cursor a client can send
#: is an error.
_CURSOR_PATTERN = "^[0-9a-z]{1,10}$"
CursorQuery = Annotated[
    str | None,
    Query(
        pattern=_CURSOR_PATTERN,
        description="Opaque: the `next_cursor` of the previous page; leave out for the first page.",
    ),
]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Most rows in the page.")]


def after_id(cursor: str | None) -> int | None:
    """The row id a cursor continues after."""
    return None if cursor is None else int(cursor, 36)


def cursor_for(row_id: int | None) -> str | None:
    """The cursor that continues after ``row_id`` (``None``: there is no next page)."""
    if row_id is None:
        return None
    digits = ""
    while True:
        row_id, digit = divmod(row_id, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
        if row_id == 0:
            return digits


def _admin_only(store: StoreDep, creds: CredentialsDep) -> None:
    """Refuse a non-admin before the body is read or validated: an annotator gets 403 on every admin route,
    never a 422 that describes the body the route expects (and an upload is not read for them)."""
    with caller(store, creds, admin=True):
        pass


ADMIN_ONLY = Depends(_admin_only)


def links(status_code: int, targets: dict[str, str], parameter: str, source: str) -> dict[int | str, Any]:
    """OpenAPI links from this operation's ``status_code`` response to ``targets`` (link name → operation id),
    each taking ``parameter`` from ``source`` (a runtime expression such as ``$response.body#/name``)."""
    found = {name: {"operationId": op, "parameters": {parameter: source}} for name, op in targets.items()}
    return {status_code: {"links": found}}


def merged(*parts: dict[int | str, Any]) -> dict[int | str, Any]:
    """``responses`` entries merged, the links of one status code together."""
    out: dict[int | str, Any] = {}
    for part in parts:
        for code, entry in part.items():
            if "links" in entry and "links" in out.get(code, {}):
                out[code] = {**out[code], "links": {**out[code]["links"], **entry["links"]}}
            else:
                out[code] = {**out.get(code, {}), **entry}
    return out

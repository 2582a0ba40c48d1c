"""``POST /api/v1/jobs/{name}/items``: append tweets to a running streaming job (``groundswell.jobs.append``).

The body is a JSON array of items, or JSON Lines (``application/x-ndjson``), each item an import row
(``{"source": text, "id": ..., other attributes}``). It goes through the importer's JSON Lines reader, so the
validation and the problems are those of ``dataset import``, named ``items:N`` (the Nth array element) or
``body:N`` (line N). The body is read by hand, as for dataset uploads, because FastAPI's body parameter can
describe only one media type.

Before the reader sees them, items are checked for what only an HTTP body can carry: a ``source-ref`` (it
would make the server read a file of its choosing: send the text), and a NUL or a lone surrogate (which
PostgreSQL cannot store and UTF-8 cannot encode). Like every problem, one such item refuses the request.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from groundswell.domain import MAX_LINE_CHARS
from groundswell.errors import InputProblem, InvalidInputError, RejectedInputError, UsageError
from groundswell.ingest import ReadOptions
from groundswell.ingest.importer import ImportReport, import_json_lines
from groundswell.jobs.append import Appended, append_to_job
from groundswell.settings import Settings
from groundswell.web.auth import Credentials
from groundswell.web.deps import CredentialsDep, SettingsDep, StoreDep, caller
from groundswell.web.routes.common import ADMIN_ONLY, CHANGES, merged
from groundswell.web.schemas import JOB_NAME_PATTERN, error_responses

__all__ = ["MAX_ITEMS", "router"]

router = APIRouter(prefix="/api/v1", tags=["jobs"], dependencies=[ADMIN_ONLY])

#: Most items one request may carry: a producer sends batches; a file of any size goes through `job append`.
MAX_ITEMS = 10_000
_JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines")
_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An import row: the tweet's text in `source`, an optional `id`, any other attributes.",
    "required": ["source"],
    "properties": {
        "source": {"type": "string", "minLength": 1, "maxLength": MAX_LINE_CHARS, "pattern": "\\S"},
        "id": {
            "description": "Stable id; an id the job's dataset already holds is ignored and reported. Without "
            "one, the id is a hash of the text.",
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
                {"type": "integer"},
            ],
        },
    },
    "example": {"source": "Loving the new phone!", "id": "1712345678901"},
}
_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "array", "items": _ITEM_SCHEMA, "maxItems": MAX_ITEMS}},
        "application/x-ndjson": {"schema": {"type": "string", "description": "JSON Lines: one item per line."}},
    },
}
#: The path's job: the examples name the streaming job of the OpenAPI examples' store.
StreamingJobName = Annotated[
    str, PathParam(min_length=1, max_length=63, pattern=JOB_NAME_PATTERN, examples=["launch-stream"])
]


class AppendResultPublic(BaseModel):
    job: str
    dataset: str
    rows_read: int = Field(description="Items in the request.")
    appended: int = Field(description="Tweets that became items of the job.")
    duplicates: list[str] = Field(
        description="Ids of items the job's dataset already held: ignored, so a retried request appends nothing twice."
    )
    repeated_texts: int = Field(description="Appended items whose text repeats another tweet's (under a new id).")


@router.post(
    "/jobs/{name}/items",
    response_model=AppendResultPublic,
    responses=merged(CHANGES, error_responses(415)),
    openapi_extra={"requestBody": _BODY},
)
async def append_items(
    name: StreamingJobName, request: Request, store: StoreDep, creds: CredentialsDep, settings: SettingsDep
) -> AppendResultPublic:
    """Append tweets to a streaming job (created with ``streaming: true``) while it runs.

    All or nothing: a bad item refuses the request with 422, every problem named ``items:N`` (the Nth array
    element) or ``body:N`` (line N of JSON Lines), and nothing is appended. Items whose id the job's dataset
    already holds are ignored and listed in ``duplicates``. A job that is not streaming, or has stopped,
    answers 409.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" and kind not in _JSON_LINES:
        raise StarletteHTTPException(415, "send a JSON array (application/json) or JSON Lines (application/x-ndjson)")
    raw = await request.body()
    lines, source = _as_lines(raw) if kind == "application/json" else _checked_lines(raw)
    result = await run_in_threadpool(_append, store, creds, settings, name, lines, source)
    report = result.report
    return AppendResultPublic(
        job=result.job,
        dataset=result.dataset,
        rows_read=report.rows_read,
        appended=result.appended,
        duplicates=[d.external_id for d in report.duplicates if d.same_id],
        repeated_texts=report.duplicate_texts,
    )


def _append(
    store: sessionmaker[Session], creds: Credentials, settings: Settings, name: str, lines: bytes, source: str
) -> Appended[ImportReport]:
    """Authenticate and append in one transaction."""
    options = ReadOptions(max_line_bytes=settings.max_line_bytes)
    with caller(store, creds, admin=True) as call:
        return append_to_job(
            call.session,
            name,
            lambda dataset: import_json_lines(
                call.session,
                lines,
                name=dataset.name,
                options=options.with_optional_id(dataset.id_column),
                source_name=source,
                batch_size=settings.import_batch_size,
                duplicates_shown=MAX_ITEMS,
            ),
        )


def _as_lines(raw: bytes) -> tuple[bytes, str]:
    """A JSON array body as JSON Lines, element N on line N."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, list):
        raise InvalidInputError("send a JSON array of items (or JSON Lines as application/x-ndjson)")
    if len(data) > MAX_ITEMS:
        raise InvalidInputError(f"{len(data):,} items: at most {MAX_ITEMS:,} per request")
    problems = [p for number, item in enumerate(data, start=1) if (p := _problem("items", number, item))]
    if problems:
        raise RejectedInputError(problems)
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in data).encode("utf-8"), "items"


def _checked_lines(raw: bytes) -> tuple[bytes, str]:
    """A JSON Lines body as it is, once no line carries what only a body can (module docstring)."""
    lines = raw.split(b"\n")
    if sum(1 for line in lines if line.strip()) > MAX_ITEMS:
        raise InvalidInputError(f"more than {MAX_ITEMS:,} items: at most {MAX_ITEMS:,} per request")
    problems = []
    for number, line in enumerate(lines, start=1):
        try:
            item = json.loads(line)
        except ValueError:
            continue  # the reader names it, with the other problems of its kind
        problem = _problem("body", number, item)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise RejectedInputError(problems)
    return raw, "body"


def _problem(source: str, number: int, item: object) -> InputProblem | None:
    if isinstance(item, dict) and "source-ref" in item:
        return InputProblem(source, number, "source-ref is not accepted here: send the text as 'source'", "source-ref")
    bad = _unstorable(item)
    if bad is not None:
        return InputProblem(source, number, f"{bad}, which cannot be stored")
    return None


def _unstorable(value: object) -> str | None:
    """What in ``value`` (a parsed JSON value) no database can store as text, if anything."""
    if isinstance(value, str):
        if "\x00" in value:
            return "holds a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "holds a lone surrogate (not valid Unicode)"
        return None
    if isinstance(value, dict):
        for key, inner in value.items():
            found = _unstorable(key) or _unstorable(inner)
            if found is not None:
                return found
    if isinstance(value, list):
        for inner in value:
            found = _unstorable(inner)
            if found is not None:
                return found
    return None

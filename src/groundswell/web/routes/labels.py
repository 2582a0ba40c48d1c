"""A job's results over the API: its labels a page at a time with filters, and the export files.

The export is written by :func:`groundswell.jobs.exports.export_job` (what ``groundswell job export`` runs) to
a temporary file, then sent from it: the bytes are the CLI's, memory stays flat, and no database session is
held open while a slow client reads.
"""

from __future__ import annotations

import os
import tempfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from groundswell import jobs
from groundswell.jobs.consolidation import consolidate_job
from groundswell.jobs.drift import drift_report
from groundswell.jobs.exports import export_job
from groundswell.jobs.label_browser import LabelFilter, answer_counts, label_page
from groundswell.jobs.label_feed import FeedRow, feed_page, parse_since
from groundswell.store.tables import ADJUDICATED, ConsolidatedLabel, Item, Job
from groundswell.web.admin_schemas import (
    ConsolidateRequest,
    ConsolidationPublic,
    DriftDayPublic,
    DriftPublic,
    LabelPagePublic,
    LabelPublic,
)
from groundswell.web.deps import CredentialsDep, StoreDep, caller
from groundswell.web.routes.common import (
    ADMIN_ONLY,
    CHANGES,
    ONE_OF_MANY,
    CursorQuery,
    JobName,
    LimitQuery,
    after_id,
    cursor_for,
    merged,
)
from groundswell.web.schemas import PlainText

__all__ = ["label_public", "router"]

router = APIRouter(prefix="/api/v1", tags=["jobs"], dependencies=[ADMIN_ONLY])

#: Each export format's media type and file name suffix.
_MEDIA = {
    "manifest": ("application/x-ndjson", "output.manifest"),
    "csv": ("text/csv", "labels.csv"),
    "parquet": ("application/vnd.apache.parquet", "labels.parquet"),
}
_NEXT_LABELS = {
    "NextLabels": {
        "operationId": "job_labels_api_v1_jobs__name__labels_get",
        "parameters": {"name": "$request.path.name", "cursor": "$response.body#/next_cursor"},
    }
}
Confidence = Annotated[float | None, Query(ge=0, le=1)]
SinceQuery = Annotated[
    str | None,
    Query(
        pattern="^[0-9]{1,15}$",
        description="Feed cursor: `0` for every final label so far, then the `next_since` you were given "
        "(`cursor` is not used with it).",
    ),
]


@router.get(
    "/jobs/{name}/labels",
    response_model=LabelPagePublic,
    responses=merged(ONE_OF_MANY, {200: {"links": _NEXT_LABELS}}),
)
def job_labels(
    name: JobName,
    store: StoreDep,
    creds: CredentialsDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
    label: Annotated[PlainText | None, Query(min_length=1, max_length=256)] = None,
    human: Annotated[bool | None, Query(description="true: consolidated from people; false: machine labels.")] = None,
    min_confidence: Confidence = None,
    max_confidence: Confidence = None,
    q: Annotated[
        PlainText | None,
        Query(min_length=1, max_length=280, description="Tweets containing this text (any case; % and _ as typed)."),
    ] = None,
    disagreement: Annotated[
        bool | None,
        Query(description="true: the answers hold at least two different labels; false: they do not."),
    ] = None,
    adjudicated: Annotated[bool | None, Query(description="true: an admin's corrections; false: the rest.")] = None,
    since: SinceQuery = None,
) -> LabelPagePublic:
    """The job's labels (gold tweets left out) in import order, a page at a time, following ``next_cursor``,
    each with ``agreement`` (the share of its answers equal to it) and ``adjudicated`` (an admin's correction).

    With ``since`` (``0`` the first time), the labels that became final after that feed cursor instead, in the
    order they did, and ``next_since`` to ask with next time (the same when nothing is new): polling that
    never misses or repeats a label. A label that changes after it was final comes again. ``cursor`` is not
    used with ``since``.
    """
    where = LabelFilter(label, human, min_confidence, max_confidence, q, disagreement, adjudicated)
    if since is not None:
        return _feed(store, creds, name, parse_since(since), limit, where)
    with caller(store, creds, admin=True) as call:
        job = jobs.get_job(call.session, name)
        page = label_page(call.session, job, after=after_id(cursor), limit=limit, where=where)
        labels = [label_public(row.item, row.label, row.agreement) for row in page.rows]
        return LabelPagePublic(labels=labels, next_cursor=cursor_for(page.after))


def label_public(item: Item, label: ConsolidatedLabel, agreement: float | None = None) -> LabelPublic:
    """One label as the API shows it, in pages, the feed and a label's review alike."""
    return LabelPublic(
        item_id=item.external_id,
        source=item.text,
        label=label.label,
        class_index=label.class_index,
        confidence=label.confidence,
        human_annotated=label.human_annotated,
        method=label.method,
        judgment_count=label.judgment_count,
        updated_at=label.updated_at,
        agreement=agreement,
        adjudicated=label.method == ADJUDICATED,
    )


def _feed(store: Any, creds: Any, name: str, since: int, limit: int, where: LabelFilter) -> LabelPagePublic:
    with caller(store, creds, admin=True) as call:
        job = jobs.get_job(call.session, name)
        page = feed_page(call.session, job, since=since, limit=limit, human=where.human_annotated)
        rows = [row for row in page.rows if _passes(row, where)]
        if where.disagreement is not None:
            rows = _by_disagreement(call.session, job, rows, where.disagreement)
        return LabelPagePublic(
            labels=[label_public(r.item, r.label) for r in rows], next_cursor=None, next_since=str(page.next_since)
        )


def _passes(row: FeedRow, where: LabelFilter) -> bool:
    """The label browser's filters on a feed row, those the row itself answers (``label_page`` has them in SQL)."""
    label = row.label
    return (
        (where.label is None or label.label == where.label)
        and (where.min_confidence is None or label.confidence >= where.min_confidence)
        and (where.max_confidence is None or label.confidence <= where.max_confidence)
        and (not where.text or where.text.lower() in row.item.text.lower())
        and (where.adjudicated is None or (label.method == ADJUDICATED) == where.adjudicated)
    )


def _by_disagreement(session: Any, job: Job, rows: list[FeedRow], wanted: bool) -> list[FeedRow]:
    counts = answer_counts(session, job, [row.item.id for row in rows])
    return [row for row in rows if (len(counts.get(row.item.id, {})) > 1) == wanted]


@router.get(
    "/jobs/{name}/export",
    response_class=FileResponse,
    responses=merged(
        ONE_OF_MANY,
        {
            200: {
                "description": "The whole export, as `groundswell job export --format` writes it.",
                "content": {media: {"schema": {"type": "string", "format": "binary"}} for media, _ in _MEDIA.values()},
            }
        },
    ),
)
async def export_job_results(
    name: JobName,
    store: StoreDep,
    format: Annotated[
        Literal["manifest", "csv", "parquet"], Query(description="The output manifest by default.")
    ] = "manifest",
) -> FileResponse:
    """The job's results: Ground Truth's output manifest (JSON Lines), or CSV or Parquet with the same facts."""
    handle, path = tempfile.mkstemp(prefix="groundswell-export-")
    os.close(handle)
    try:
        await run_in_threadpool(export_job, store, name, path, fmt=format)
    except BaseException:
        os.unlink(path)
        raise
    media, suffix = _MEDIA[format]
    return FileResponse(
        path,
        media_type=media,
        filename=f"{name.lower()}-{suffix}",
        background=BackgroundTask(os.unlink, path),
    )


@router.get("/jobs/{name}/drift", response_model=DriftPublic, responses=ONE_OF_MANY)
def job_drift(
    name: JobName,
    store: StoreDep,
    creds: CredentialsDep,
    days: Annotated[int, Query(ge=1, le=366, description="UTC days up to today.")] = 14,
    agreement_floor: Annotated[
        float | None,
        Query(ge=0, le=1, description="Warn below this agreement (default: 10 points under the window's own)."),
    ] = None,
) -> DriftPublic:
    """Per UTC day: labels made final, the share of each label, the share the model labeled, and the model's
    agreement with people on the tweets they labeled; a warning for each day below the floor."""
    with caller(store, creds, admin=True) as call:
        report = drift_report(
            call.session, jobs.get_job(call.session, name), days=days, agreement_floor=agreement_floor
        )
        return DriftPublic(
            job=report.job,
            days=[DriftDayPublic(**day.as_dict()) for day in report.days],
            agreement=report.agreement,
            floor=report.floor,
            warnings=report.warnings,
        )


@router.post("/jobs/{name}/consolidate", response_model=ConsolidationPublic, responses=CHANGES)
async def consolidate(
    name: JobName, store: StoreDep, creds: CredentialsDep, body: ConsolidateRequest | None = None
) -> ConsolidationPublic:
    """Fit the job's consolidation model on all current answers now and store the labels (what
    ``groundswell job consolidate`` does; the runner also does it as answers arrive)."""
    method = None if body is None else body.method

    def run() -> ConsolidationPublic:
        with caller(store, creds, admin=True) as call:
            report = consolidate_job(call.session, jobs.get_job(call.session, name), method=method)
            return ConsolidationPublic(**report.as_dict())

    return await run_in_threadpool(run)

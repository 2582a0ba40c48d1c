"""The data behind a job's charts (``groundswell.jobs.charts``), as JSON for the console's Chart.js and as CSV
for a spreadsheet: the same rows either way, so a downloaded table is exactly what the chart drew.

Admin only, like the job's other results; read-only API keys may read them.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field

from groundswell import jobs
from groundswell.jobs.charts import ChartData, ChartName, chart_catalog, chart_data
from groundswell.web.deps import CredentialsDep, StoreDep, caller
from groundswell.web.routes.common import ADMIN_ONLY, ONE_OF_MANY, JobName, merged

__all__ = ["ChartPublic", "ChartSummaryPublic", "router"]

router = APIRouter(prefix="/api/v1", tags=["jobs"], dependencies=[ADMIN_ONLY])

ChartPath = Annotated[ChartName, PathParam(description="Which chart (the list names them).", examples=["throughput"])]
#: A cell: JSON's scalars (times are ISO 8601 strings, unknown values null).
Cell = str | int | float | bool | None
_CSV = "text/csv"
_TO_CHART = {
    "Chart": {
        "operationId": "job_chart_api_v1_jobs__name__charts__chart__get",
        "parameters": {"name": "$request.path.name", "chart": "$response.body#/0/name"},
    }
}


class ChartSummaryPublic(BaseModel):
    name: ChartName
    title: str
    description: str


class ChartPublic(ChartSummaryPublic):
    """One chart as a table: each row holds one value per column."""

    columns: list[str]
    rows: list[list[Cell]]
    meta: dict[str, Any] = Field(description="What is not a row: targets, projections, totals (per chart).")


@router.get(
    "/jobs/{name}/charts",
    response_model=list[ChartSummaryPublic],
    responses=merged(ONE_OF_MANY, {200: {"links": _TO_CHART}}),
)
def job_charts(name: JobName, store: StoreDep, creds: CredentialsDep) -> list[ChartSummaryPublic]:
    """The charts a job has, in the order the console shows them."""
    with caller(store, creds, admin=True) as call:
        jobs.get_job(call.session, name)  # an unknown job is a 404 here too
    return [ChartSummaryPublic.model_validate(entry) for entry in chart_catalog()]


@router.get(
    "/jobs/{name}/charts/{chart}",
    response_model=ChartPublic,
    responses=merged(
        ONE_OF_MANY,
        {
            200: {
                "description": "The chart's data; with `format=csv`, its table as CSV (a header row of the columns).",
                "content": {_CSV: {"schema": {"type": "string"}}},
            }
        },
    ),
)
def job_chart(
    name: JobName,
    chart: ChartPath,
    store: StoreDep,
    creds: CredentialsDep,
    format: Annotated[
        Literal["json", "csv"], Query(description="`csv`: the table as a CSV download instead of JSON.")
    ] = "json",
) -> Any:
    """One chart's data: its columns, its rows and what else it needs to be drawn (``meta``)."""
    with caller(store, creds, admin=True) as call:
        job = jobs.get_job(call.session, name)
        data = chart_data(call.session, job, chart)
        job_name = job.name
    if format == "csv":
        return Response(
            _csv(data),
            media_type=_CSV,
            headers={"Content-Disposition": f'attachment; filename="{job_name}-{data.name}.csv"'},
        )
    return ChartPublic.model_validate(data.as_dict())


def _csv(data: ChartData) -> str:
    """The chart's table as CSV: a header row, then its rows (unknown values as empty cells)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(data.columns)
    writer.writerows(["" if value is None else value for value in row] for row in data.rows)
    return buffer.getvalue()

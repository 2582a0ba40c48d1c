"""The console's chart data over the API on each database: the list, every chart as JSON (rows as wide as the
columns) and as CSV (the same rows), errors for an unknown chart or job, admins and read-only keys only, and
the SDK's ``Job.charts()`` / ``Job.chart(name)``."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import answer, make_dataset, make_job, make_workers, take
from groundswell import jobs
from groundswell.client import Client, InvalidRequestError
from groundswell.jobs.charts import CHARTS
from groundswell.jobs.consolidation import consolidate_job
from groundswell.store.db import transaction

NAMES = ["throughput", "label_distribution", "annotators", "confidence", "agreement", "rounds", "cost"]


def _factory(client: TestClient) -> Any:
    return client.app.state.factory  # type: ignore[attr-defined]


def _job_with_answers(client: TestClient) -> dict[str, str]:
    """A job of six tweets, two answers each from two annotators, consolidated; an admin key's headers."""
    factory = _factory(client)
    with transaction(factory) as session:
        _, key = jobs.create_admin(session, "boss@example.org")
    job = make_job(factory, make_dataset(factory, count=6), "Launch-Charts", workers_per_item=2)
    for worker in make_workers(factory, 2):
        for label in ["positive", "negative", "neutral", "positive", "positive", "neutral"]:
            answer(factory, worker, take(factory, job, worker), label, time_spent_s=4.0)
    with transaction(factory) as session:
        consolidate_job(session, jobs.get_job(session, job))
    return {"Authorization": f"Bearer {key}"}


def test_every_chart_answers_as_json_and_as_the_same_rows_in_csv(client: TestClient) -> None:
    admin = _job_with_answers(client)
    listed = client.get("/api/v1/jobs/launch-charts/charts", headers=admin)
    assert listed.status_code == 200, listed.text
    assert [c["name"] for c in listed.json()] == NAMES == list(CHARTS)
    assert all(c["title"] and c["description"] for c in listed.json())
    for name in NAMES:
        body = client.get(f"/api/v1/jobs/launch-charts/charts/{name}", headers=admin)
        assert body.status_code == 200, (name, body.text)
        chart = body.json()
        assert chart["name"] == name and set(chart) == {"name", "title", "description", "columns", "rows", "meta"}
        assert all(len(row) == len(chart["columns"]) for row in chart["rows"]), name
        if name != "rounds":  # the job has no automated labeling
            assert chart["rows"], name
        download = client.get(f"/api/v1/jobs/launch-charts/charts/{name}", params={"format": "csv"}, headers=admin)
        assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
        assert download.headers["content-disposition"] == f'attachment; filename="Launch-Charts-{name}.csv"'
        header, *lines = list(csv.reader(io.StringIO(download.text)))
        assert header == chart["columns"]
        assert lines == [["" if v is None else str(v) for v in row] for row in chart["rows"]], name
    throughput = client.get("/api/v1/jobs/launch-charts/charts/throughput", headers=admin).json()
    assert throughput["rows"][-1][2] == throughput["meta"]["answers_so_far"] == 12
    assert throughput["meta"]["answers_wanted"] == 0 and throughput["meta"]["projected_finish"] is None
    confidence = client.get("/api/v1/jobs/launch-charts/charts/confidence", headers=admin).json()
    assert sum(row[2] + row[3] for row in confidence["rows"]) == confidence["meta"]["labels"] == 6
    (point,) = client.get("/api/v1/jobs/launch-charts/charts/cost", headers=admin).json()["rows"]
    assert point[1:3] == [12, 2.0]  # recorded by the consolidation: 12 answers, 2 per tweet


def test_unknown_charts_and_jobs_are_refused_and_annotators_get_403(client: TestClient) -> None:
    admin = _job_with_answers(client)
    unknown = client.get("/api/v1/jobs/launch-charts/charts/pie", headers=admin)
    assert unknown.status_code == 422 and "throughput" in unknown.text
    xml = client.get("/api/v1/jobs/launch-charts/charts/cost", params={"format": "xml"}, headers=admin)
    assert xml.status_code == 422
    assert client.get("/api/v1/jobs/nope/charts", headers=admin).status_code == 404
    assert client.get("/api/v1/jobs/nope/charts/cost", headers=admin).status_code == 404
    assert client.get("/api/v1/jobs/launch-charts/charts/cost").status_code == 401
    with transaction(_factory(client)) as session:
        _, reader = jobs.create_admin(session, "dashboard@example.org", role=jobs.READ_ONLY_ROLE)
        _, token = jobs.create_invite(session, "ann@example.org", team=None, valid_for=timedelta(days=1))
    read_only = {"Authorization": f"Bearer {reader}"}
    assert client.get("/api/v1/jobs/launch-charts/charts/cost", headers=read_only).status_code == 200
    browser = TestClient(client.app)
    assert browser.post(f"/invite/{token}", follow_redirects=False).status_code == 303
    with _factory(client)() as session:
        csrf = session.scalars(select(jobs.people.WebSession.csrf_token)).one()  # type: ignore[attr-defined]
    for path in ("/api/v1/jobs/launch-charts/charts", "/api/v1/jobs/launch-charts/charts/annotators"):
        refused = browser.get(path, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403 and refused.json()["error"] == "this needs an admin", path
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/api/v1/jobs/{name}/charts/{chart}"]["get"]
    assert {"401", "403", "404", "422"} <= set(operation["responses"])
    assert "text/csv" in operation["responses"]["200"]["content"]


# The SDK sends a timeout with each request, which Starlette's in-process TestClient has no use for (it warns).
@pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument with the TestClient")
def test_the_sdk_reads_the_charts(client: TestClient) -> None:
    admin = _job_with_answers(client)
    key = admin["Authorization"].removeprefix("Bearer ")
    with Client("http://testserver", api_key=key, http_client=client) as gs:
        job = gs.jobs.get("launch-charts")
        assert [c["name"] for c in job.charts()] == NAMES
        annotators = job.chart("annotators")
        assert annotators["columns"][:2] == ["name", "answers"] and [r[1] for r in annotators["rows"]] == [6, 6]
        with pytest.raises(InvalidRequestError, match="throughput") as refused:
            job.chart("pie")
        assert refused.value.status == 422

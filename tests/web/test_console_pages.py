"""The console's pages as HTML (no browser): what each renders for an admin, that an annotator's session gets
403 on every one, and the Markdown preview (tables render, raw HTML stays text, CSRF required), on both
databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from groundswell import jobs
from groundswell.store.db import transaction
from groundswell.web.console_form import FORM_GROUPS

CONSOLE_PAGES = ["/admin", "/admin/datasets", "/admin/new-job", "/admin/workers", "/admin/models"]


def _factory(client: TestClient) -> Any:
    return client.app.state.factory  # type: ignore[attr-defined]


def _signed_in_admin(client: TestClient) -> str:
    """Sign ``client`` in to the console with a new admin key; returns the session's CSRF token."""
    with transaction(_factory(client)) as session:
        _, key = jobs.create_admin(session, "boss@example.org", "Boss")
    assert client.post("/admin/login", data={"api_key": key}, follow_redirects=False).status_code == 303
    with _factory(client)() as session:
        return str(session.scalars(select(jobs.people.WebSession.csrf_token)).one())  # type: ignore[attr-defined]


def _with_job(client: TestClient) -> None:
    body = "".join(f'{{"source": "tweet {i}"}}\n' for i in range(3))
    admin = TestClient(client.app)
    with transaction(_factory(client)) as session:
        _, key = jobs.create_admin(session, "setup@example.org")
    headers = {"Authorization": f"Bearer {key}"}
    upload = admin.post(
        "/api/v1/datasets", files={"file": ("launch.jsonl", body)}, data={"name": "launch"}, headers=headers
    )
    assert upload.status_code == 201, upload.text
    job = {"name": "launch-sentiment", "dataset": "launch", "labels": ["negative", "neutral", "positive"]}
    assert admin.post("/api/v1/jobs", json=job, headers=headers).status_code == 201


def test_each_console_page_renders_for_an_admin(client: TestClient) -> None:
    _with_job(client)
    _signed_in_admin(client)
    pages = {path: client.get(path) for path in [*CONSOLE_PAGES, "/admin/jobs/launch-sentiment/labels"]}
    for path, response in pages.items():
        assert response.status_code == 200, (path, response.text)
        assert "Content-Security-Policy" in response.headers
        assert 'href="/admin/datasets"' in response.text  # the console's navigation
    assert 'id="upload-form"' in pages["/admin/datasets"].text and "<td>launch</td>" in pages["/admin/datasets"].text
    form = pages["/admin/new-job"].text
    # Every setting of the form is offered, with its help.
    for group in FORM_GROUPS:
        for field in group.fields:
            assert f'data-key="{field.key}"' in form, field.key
            assert field.help.split("'")[0][:40] in form.replace("&#39;", "'"), field.key
    assert '<option value="launch">' in form
    labels_page = pages["/admin/jobs/launch-sentiment/labels"].text
    assert 'data-labels=\'["negative", "neutral", "positive"]\'' in labels_page
    assert '<option value="launch-sentiment"' in pages["/admin/models"].text
    job_page = client.get("/admin/jobs/launch-sentiment").text
    assert 'src="/static/vendor/chart.umd.min.js"' in job_page and 'id="charts"' in job_page
    chart_library = client.get("/static/vendor/chart.umd.min.js")
    assert chart_library.status_code == 200 and chart_library.text.startswith("/*!\n * Chart.js v4.6.1")


def test_an_annotator_gets_403_on_every_console_page(client: TestClient) -> None:
    _with_job(client)
    with transaction(_factory(client)) as session:
        _, token = jobs.create_invite(session, "ann@example.org", team=None, valid_for=timedelta(days=1))
    assert client.post(f"/invite/{token}", follow_redirects=False).status_code == 303
    with _factory(client)() as session:
        csrf = session.scalars(select(jobs.people.WebSession.csrf_token)).one()  # type: ignore[attr-defined]
    for path in [*CONSOLE_PAGES, "/admin/jobs/launch-sentiment", "/admin/jobs/launch-sentiment/labels"]:
        response = client.get(path)
        assert response.status_code == 403, (path, response.status_code)
        assert 'id="upload-form"' not in response.text and "launch-sentiment" not in response.text.split("<main>")[-1]
    preview = client.post("/admin/preview", json={"markdown": "# hi"}, headers={"X-CSRF-Token": csrf})
    assert preview.status_code == 403


def test_the_markdown_preview_renders_tables_as_annotators_see_them(client: TestClient) -> None:
    csrf = _signed_in_admin(client)
    text = "| tweet | label |\n| --- | --- |\n| I love it | positive |\n\n<script>alert(1)</script>"
    answer = client.post("/admin/preview", json={"markdown": text}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200, answer.text
    html = answer.json()["html"]
    assert "<table>" in html and "<td>I love it</td>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    # A session request without its CSRF token changes nothing and is refused.
    assert client.post("/admin/preview", json={"markdown": text}).status_code == 403
    # The labeling page renders instructions with the same renderer.
    from groundswell.web.routes.pages import render_markdown

    assert render_markdown(text) == html

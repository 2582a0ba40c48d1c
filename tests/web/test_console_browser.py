"""The requester's whole path in a real browser (Debian's Chromium via Playwright), with no CLI: sign in, upload
a CSV, create a job with a Markdown table in its instructions, invite an annotator who labels in a second
browser context, watch progress and charts update, correct a label, and download the output manifest, which
must equal ``groundswell job export`` byte for byte. On SQLite and PostgreSQL, against a real server process and
a real runner.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from groundswell import jobs
from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from groundswell.store.tables import ConsolidatedLabel, Job
from servers import LiveServer, start_runner, start_server, stop_server

TWEETS = [
    ("c1", "Loving the new phone, the battery lasts all day"),
    ("c2", "Worst update ever, my apps keep crashing"),
    ("c3", "The store opens at 9 tomorrow"),
    ("c4", "Great support team, fixed it in minutes"),
    ("c5", "Screen cracked after one drop, not impressed"),
    ("c6", "New colours announced for the autumn range"),
]
INSTRUCTIONS = "# Sentiment\n\n| tweet | label |\n| --- | --- |\n| I love it | positive |\n| It broke | negative |\n"


@pytest.fixture
def console(store_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, sessionmaker[Session], str, Path, list[Any]]]:
    engine = make_engine(store_url)
    prepare_store(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        _, key = jobs.create_admin(session, "lead@example.org", "Lead")
    server = start_server(store_url, tmp_path)
    runners = [start_runner(store_url, tmp_path, "--poll", "0.5", "--every", "2")]
    yield server, factory, key, tmp_path, runners
    for runner in runners:
        runner.terminate()
        runner.wait(timeout=30)
    stop_server(server)
    engine.dispose()


def _wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def _sign_in(page: Any, base: str, key: str) -> None:
    """Sign the page in to the console with an admin API key, as the login form is used."""
    page.goto(f"{base}/admin/login")
    page.fill("input[name=api_key]", key)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/admin")


def _label_row(factory: sessionmaker[Session], external_id: str) -> ConsolidatedLabel | None:
    from groundswell.store.tables import Item

    with factory() as session:
        job_id = session.scalar(select(Job.id).where(Job.name == "launch-sentiment"))
        return session.scalars(
            select(ConsolidatedLabel)
            .join(Item, Item.id == ConsolidatedLabel.item_id)
            .where(ConsolidatedLabel.job_id == job_id, Item.external_id == external_id)
        ).one_or_none()


def test_requester_path_in_the_browser(
    browser: Any, console: tuple[LiveServer, sessionmaker[Session], str, Path, list[Any]]
) -> None:
    server, factory, key, tmp_path, runners = console
    upload = tmp_path / "launch.csv"
    with upload.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows(TWEETS)

    admin = browser.new_context(accept_downloads=True)
    page = admin.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _sign_in(page, server.url, key)

    # Upload: a preview of the rows before sending, then the import's figures.
    page.click("text=Datasets")
    page.set_input_files("#upload-file", str(upload))
    page.locator("#preview-table tbody tr").first.wait_for()
    assert page.locator("#preview-table tbody tr").count() == 5  # the first five of six rows
    assert page.locator("#preview-table thead th").all_text_contents() == ["id", "text"]
    assert page.input_value("#upload-name") == "launch"
    page.locator("#upload-form summary").click()
    page.fill("input[name=id_column]", "id")
    page.click("#upload-button")
    page.wait_for_selector("text=Imported 6 tweets into launch.")
    assert float(page.get_attribute("#upload-progress", "value") or 0) == 100

    # The job form: the instructions' table rendered in the live preview, then the job created and started.
    page.click("#upload-next")
    page.wait_for_url(f"{server.url}/admin/new-job?dataset=launch")
    page.fill("input[name=name]", "launch-sentiment")
    page.fill("#instructions", INSTRUCTIONS)
    page.locator("#instructions-preview table td", has_text="It broke").wait_for()
    assert page.locator("#instructions-preview h1").text_content() == "Sentiment"
    page.fill("[data-key=workers_per_item]", "1")
    page.fill("input[name=dataset]", "lunch")  # a typo: the API's refusal is shown, nothing is created
    page.click("text=Create job")
    page.locator("#job-errors li").first.wait_for()
    assert "lunch" in (page.locator("#job-errors").text_content() or "")
    page.fill("input[name=dataset]", "launch")
    page.click("text=Create job")
    page.wait_for_url(f"{server.url}/admin/jobs/launch-sentiment")
    assert page.locator("h1 .state").text_content() == "running"

    # Invite an annotator and label in a second browser context.
    page.click("text=Workers")
    page.fill("#invite-form input[name=email]", "ana@example.org")
    page.fill("#invite-form input[name=name]", "Ana")
    page.click("#invite-form button[type=submit]")
    page.locator("#invite-result").wait_for(state="visible")
    invite_url = page.input_value("#invite-url")
    assert "/invite/" in invite_url
    page.locator("#workers-table td", has_text="ana@example.org").wait_for()

    page.goto(f"{server.url}/admin/jobs/launch-sentiment")
    page.locator("[data-chart=throughput]").wait_for()
    assert page.locator("[data-field=done]").text_content().startswith("0 / 6")
    assert page.locator("[data-chart=throughput]").get_by_text("No data yet.").is_visible()

    annotator = browser.new_context()
    labeling = annotator.new_page()
    labeling.goto(invite_url)
    labeling.click("text=Start labeling")
    labeling.wait_for_url(f"{server.url}/annotate/launch-sentiment")
    labeling.keyboard.press("?")
    assert labeling.locator("#instructions table td", has_text="I love it").count() == 1  # the table renders
    labeling.keyboard.press("Escape")
    tweet = labeling.locator("#tweet")
    seen: list[str] = []
    for key_pressed in ["1", "2", "3", "1", "2", "3"]:
        _wait_for(lambda: tweet.text_content() and tweet.text_content() not in seen)
        seen.append(tweet.text_content() or "")
        labeling.keyboard.press(key_pressed)
    labeling.locator("h1", has_text="All done").wait_for(timeout=20_000)

    # The admin's page updates by itself: progress and the charts' data.
    # (Polled from here: wait_for_function would evaluate a string, which the console's CSP rightly forbids.)
    done = page.locator("[data-field=done]")
    _wait_for(lambda: (done.text_content() or "").startswith("6 / 6"), timeout=30)
    answers_charted = (
        "(() => { const c = Chart.getChart(document.querySelector('[data-chart=throughput] canvas'));"
        " return c ? c.data.datasets[0].data.reduce((a, b) => a + (b || 0), 0) : -1; })()"
    )
    _wait_for(lambda: page.evaluate(answers_charted) == 6, timeout=30)

    # Correct one label in the labels browser; it is recorded as an adjudication.
    page.click("text=Browse and correct labels")
    page.locator("#labels-table tbody tr[data-item]").first.wait_for()
    assert page.locator("#labels-table tbody tr[data-item]").count() == 6
    row = page.locator("#labels-table tbody tr[data-item=c3]")
    before = row.locator(".label-cell").text_content()
    corrected = "negative" if before != "negative" else "positive"
    row.click()
    page.locator("#detail-answers tbody td", has_text="Ana").wait_for()
    page.select_option("#correct-form select[name=label]", corrected)
    page.fill("#correct-form input[name=note]", "sarcasm")
    page.click("text=Save correction")
    page.locator("#detail-history li", has_text="sarcasm").wait_for()
    page.locator("#labels-table tbody tr[data-item=c3] .by-cell", has_text="corrected").wait_for()
    stored = _label_row(factory, "c3")
    assert stored is not None and stored.label == corrected and stored.method == "adjudicated"
    page.select_option("#label-filters select[name=adjudicated]", "true")
    page.click("#label-filters button[type=submit]")
    _wait_for(lambda: page.locator("#labels-table tbody tr[data-item]").count() == 1)

    # The manifest the console downloads is the CLI's, byte for byte. The runner is stopped first: a full
    # consolidation between the two exports would stamp the labels anew (their creation-date).
    runners[0].terminate()
    runners[0].wait(timeout=30)
    with page.expect_download() as download_info:
        page.click("#export-manifest")
    downloaded = Path(download_info.value.path()).read_bytes()
    out = tmp_path / "cli.manifest"
    environment = {**os.environ, "GROUNDSWELL_DATABASE_URL": server.database_url, "GROUNDSWELL_DATA_DIR": str(tmp_path)}
    subprocess.run(
        [str(Path(sys.executable).with_name("groundswell")), "job", "export", "launch-sentiment", "--out", str(out)],
        check=True,
        env=environment,
        capture_output=True,
    )
    assert downloaded == out.read_bytes()
    lines = [json.loads(line) for line in downloaded.decode().splitlines()]
    assert len(lines) == 6
    fixed = next(line for line in lines if line["id"] == "c3")
    assert fixed["launch-sentiment-metadata"]["class-name"] == corrected
    assert fixed["launch-sentiment-metadata"]["adjudicated"] == "yes"

    # Train a model from the job's labels (a runner does it) and read its card: metrics and confusion matrix.
    runners.append(start_runner(server.database_url, tmp_path, "--poll", "0.5", name="runner-2"))
    page.click("text=Models")
    page.wait_for_url(f"{server.url}/admin/models")
    assert page.input_value("#model-job") == "launch-sentiment"
    page.click("#train-form button[type=submit]")
    page.locator("#train-status", has_text="Trained.").wait_for(timeout=90_000)
    page.locator("#model-detail").wait_for(state="visible")
    assert page.locator("#confusion tbody tr").count() == 3
    assert page.locator("#confusion thead th").all_text_contents() == ["", "positive", "negative", "neutral"]
    assert page.locator("#models-table tbody tr[data-model]").count() == 1
    assert errors == []


def test_every_chart_renders_data_marks_with_its_table(browser: Any, sqlite_url: str, tmp_path: Path) -> None:
    """A job with answers from two people on every tweet, a consolidation, a round with machine labels: each
    of the job page's charts draws a canvas whose chart holds data, and its table has the API's rows."""
    from sqlalchemy import insert, update

    from factories import LABELS, answer, make_dataset, make_job, make_workers, take
    from groundswell.jobs.consolidation import consolidate_job
    from groundswell.jobs.quality_history import record_quality_snapshot
    from groundswell.store.tables import AutoLabelRound, JobItem

    engine = make_engine(sqlite_url)
    prepare_store(engine)
    factory = make_session_factory(engine)
    # Dawid–Skene: its confidences are probabilities, so the job has an accuracy estimate (a vote has none).
    settings = {"consolidation_method": "ds"}
    job = make_job(factory, make_dataset(factory, count=10), "charted", workers_per_item=2, settings=settings)
    people = make_workers(factory, 2)
    for i in range(8):
        for j, person in enumerate(people):
            task = take(factory, job, person)
            answer(factory, person, task, LABELS[(i + (i % 3 == 0) * j) % 3], time_spent_s=4.0 + i)
    with transaction(factory) as session:
        record = jobs.get_job(session, job)
        consolidate_job(session, record)
        items = session.scalars(
            select(JobItem.item_id).where(JobItem.job_id == record.id, ~JobItem.is_done).order_by(JobItem.item_id)
        ).all()
        for item_id in items:  # the two tweets nobody answered, labeled by the model in round 1
            session.execute(
                update(JobItem).where(JobItem.job_id == record.id, JobItem.item_id == item_id).values(is_done=True)
            )
            session.execute(
                insert(ConsolidatedLabel).values(
                    job_id=record.id, item_id=item_id, label="neutral", class_index=2, confidence=0.97,
                    method="auto-label", human_annotated=False, judgment_count=0,
                )
            )  # fmt: skip
        session.add(
            AutoLabelRound(
                job_id=record.id, round_number=1, human_labels_used=8, threshold=0.9, validation_accuracy=0.95,
                validation_lower_bound=0.91, items_machine_labeled=len(items),
            )
        )  # fmt: skip
        record_quality_snapshot(session, record)
        _, key = jobs.create_admin(session, "lead@example.org")
    server = start_server(sqlite_url, tmp_path)
    try:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        _sign_in(page, server.url, key)
        page.goto(f"{server.url}/admin/jobs/{job}")
        names = ["throughput", "label_distribution", "annotators", "confidence", "agreement", "rounds", "cost"]
        for name in names:
            page.locator(f"[data-chart={name}] .chart-table").wait_for(state="attached")
        marks = page.evaluate(
            "[...document.querySelectorAll('[data-chart]')].map(f => {"
            " const c = Chart.getChart(f.querySelector('canvas'));"
            " return [f.dataset.chart, c ? c.data.datasets.reduce((n, d) => n + d.data.filter(v => v !== null &&"
            " (typeof v !== 'object' || (v.x !== null && v.y !== null))).length, 0) : 0]; })"
        )
        assert [name for name, _ in marks] == names
        cost = page.request.get(f"{server.url}/api/v1/jobs/{job}/charts/cost").json()
        assert all(count > 0 for _, count in marks), (marks[-1], cost["rows"])  # every chart drew data marks
        assert page.get_by_text("No data yet.").filter(visible=True).count() == 0
        api = _rows_in_api(page, server.url, job, names)
        for name in names:
            shown = page.locator(f"[data-chart={name}] .chart-table tbody tr").count()
            assert shown == api[name], (name, shown, api[name])
            assert page.locator(f"[data-chart={name}] a[download]").get_attribute("href") == (
                f"/api/v1/jobs/{job}/charts/{name}?format=csv"
            )
        assert errors == []
    finally:
        stop_server(server)
        engine.dispose()


def _rows_in_api(page: Any, base: str, job: str, names: list[str]) -> dict[str, int]:
    """How many rows each chart's API answer has, fetched with the page's own session."""
    return {name: len(page.request.get(f"{base}/api/v1/jobs/{job}/charts/{name}").json()["rows"]) for name in names}


def test_the_job_form_sends_every_setting_it_shows(browser: Any, sqlite_url: str, tmp_path: Path) -> None:
    """Each input of the form reaches the job: top-level fields and ``settings`` keys, typed as the API wants."""
    from factories import make_dataset
    from groundswell.jobs.views import job_team_names

    engine = make_engine(sqlite_url)
    prepare_store(engine)
    factory = make_session_factory(engine)
    make_dataset(factory, "launch", count=5)
    with transaction(factory) as session:
        _, key = jobs.create_admin(session, "lead@example.org")
        for team in ("core", "night"):  # teams exist once someone is invited to them
            jobs.create_invite(session, f"{team}@example.org", team=team, valid_for=timedelta(days=1))
    server = start_server(sqlite_url, tmp_path)
    try:
        page = browser.new_page()
        _sign_in(page, server.url, key)
        page.goto(f"{server.url}/admin/new-job?dataset=launch")
        for summary in page.locator("#job-form summary").all():
            if summary.evaluate("s => !s.parentElement.open"):
                summary.click()
        page.fill("input[name=name]", "every-setting")
        page.fill("input[name=labels]", "good, bad")
        values = {
            "workers_per_item": "2", "max_workers_per_item": "4", "redundancy_threshold": "0.7", "seed_size": "50",
            "batch_size": "20", "budget": "500", "task_time_limit_s": "120", "task_availability_s": "86400",
            "max_concurrent_tasks": "10", "teams": "core, night", "label_attribute_name": "mood",
            "webhooks": "http://127.0.0.1:9/hook",
        }  # fmt: skip
        for name, value in values.items():
            page.fill(f"[data-key={name}]", value)
        page.select_option("[data-key=consolidation_method]", "ds")
        page.select_option("[data-key=redundancy_rule]", "posterior")
        page.select_option("[data-key=model_vote]", "true")
        page.check("[data-key=dynamic_redundancy]")
        page.check("[data-key=auto_label]")
        page.click("text=Create job")
        page.wait_for_url(f"{server.url}/admin/jobs/**")
        assert page.url == f"{server.url}/admin/jobs/every-setting", page.locator("#job-errors").text_content()
        with factory() as session:
            job = jobs.get_job(session, "every-setting")
            assert (job.workers_per_item, job.max_workers_per_item) == (2, 4)
            assert (job.task_time_limit_s, job.task_availability_s, job.max_concurrent_tasks) == (120, 86400, 10)
            assert job.label_attribute_name == "mood"
            assert sorted(job_team_names(session, job)) == ["core", "night"]
            settings = dict(job.settings or {})
            assert {
                k: settings.get(k) for k in ("consolidation_method", "redundancy_rule", "redundancy_threshold")
            } == {
                "consolidation_method": "ds",
                "redundancy_rule": "posterior",
                "redundancy_threshold": 0.7,
            }
            assert settings["dynamic_redundancy"] is True and settings["auto_label"] is True
            assert (settings["seed_size"], settings["batch_size"], settings["budget"]) == (50, 20, 500)
            assert settings["model_vote"] is True
            assert job.webhook_secret is not None  # the webhook was registered
    finally:
        stop_server(server)
        engine.dispose()

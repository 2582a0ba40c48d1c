"""Drift day by day (issue 16, item 4) on each database: label shares, machine share and model–human
agreement per UTC day of finalization, a warning for a day below the floor (the window's own agreement minus
10 points, or as given), no verdict on a day with too few reviewed tweets; the CLI and the API show it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from factories import LABELS, make_dataset, make_job
from groundswell import jobs
from groundswell.cli import app
from groundswell.errors import InvalidInputError
from groundswell.jobs.drift import drift_report
from groundswell.settings import Settings
from groundswell.store.db import transaction
from groundswell.store.tables import ConsolidatedLabel, JobItem, LabelEvent, utcnow
from groundswell.web.app import create_app

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _label(session: Session, job_id: int, item_id: int, label: int, *, model: int | None, human: bool = True) -> None:
    session.execute(
        update(JobItem)
        .where(JobItem.job_id == job_id, JobItem.item_id == item_id)
        .values(is_done=True, model_label=model)
    )
    session.execute(
        insert(ConsolidatedLabel).values(
            job_id=job_id, item_id=item_id, label=LABELS[label], class_index=label, confidence=0.9,
            method="mv" if human else "auto-label", human_annotated=human, judgment_count=int(human),
            updated_at=utcnow(),
        )
    )  # fmt: skip


@pytest.fixture
def drifting(factory: sessionmaker[Session]) -> str:
    """Two days ago: 25 reviewed tweets, the model right on all; yesterday: 25, right on 10, and one machine
    label; today: 5 reviewed, all wrong (too few for a verdict)."""
    job = make_job(factory, make_dataset(factory, count=60), "drift", workers_per_item=1)
    with transaction(factory) as session:
        job_id = jobs.get_job(session, job).id
        items = session.scalars(select(JobItem.item_id).order_by(JobItem.item_id)).all()
        plan: list[tuple[int, int, int, bool]] = []  # (days ago, label, model vote, human)
        plan += [(2, 2, 2, True)] * 25
        plan += [(1, 0, 0, True)] * 10 + [(1, 0, 2, True)] * 15 + [(1, 1, 1, False)]
        plan += [(0, 1, 0, True)] * 5
        for item_id, (ago, label, model, human) in zip(items, plan, strict=False):
            _label(session, job_id, item_id, label, model=model, human=human)
            session.execute(
                update(LabelEvent)
                .where(LabelEvent.item_id == item_id)
                .values(created_at=NOW - timedelta(days=ago, hours=1))
            )
    return job


def test_a_day_whose_agreement_falls_under_the_windows_own_gets_a_warning(
    factory: sessionmaker[Session], drifting: str
) -> None:
    with factory() as session:
        report = drift_report(session, jobs.get_job(session, drifting), days=7, now=NOW)
    assert [d.day.isoformat() for d in report.days] == ["2026-12-02", "2026-12-03", "2026-12-04"]
    first, second, today = report.days
    assert (first.labels, first.shares["neutral"], first.reviewed, first.agreement) == (25, 1.0, 25, 1.0)
    assert (second.labels, second.reviewed, second.agreement) == (26, 25, 0.4)
    assert second.machine_share == pytest.approx(1 / 26) and second.shares["positive"] == pytest.approx(25 / 26)
    assert (today.reviewed, today.agreement, today.warning) == (5, 0.0, None)  # too few for a verdict
    assert report.agreement == pytest.approx(35 / 55) and report.floor == pytest.approx(35 / 55 - 0.10)
    assert report.warnings == [second.warning] and "2026-12-03: model–human agreement 40%" in (second.warning or "")
    with factory() as session:
        job = jobs.get_job(session, drifting)
        assert drift_report(session, job, days=7, now=NOW, agreement_floor=0.3).warnings == []
        assert [d.labels for d in drift_report(session, job, days=2, now=NOW).days] == [26, 5]
        with pytest.raises(InvalidInputError, match="days"):
            drift_report(session, job, days=0)


def test_drift_from_the_cli_and_the_api(store_url: str, tmp_path: Path, factory: sessionmaker[Session]) -> None:
    job = make_job(factory, make_dataset(factory, count=3), "fresh", workers_per_item=1)
    with transaction(factory) as session:
        job_id = jobs.get_job(session, job).id
        for item_id in session.scalars(select(JobItem.item_id)).all():
            _label(session, job_id, item_id, 2, model=2)
    env = {"GROUNDSWELL_DATABASE_URL": store_url, "GROUNDSWELL_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(app, ["job", "drift", "fresh"], env=env)
    out = " ".join(result.output.split())
    assert result.exit_code == 0 and "│ 3 │ 0% │ 0% │ 100% │ 0% │ 3 │ 100% │" in out, out
    with TestClient(create_app(Settings(database_url=store_url, data_dir=tmp_path))) as client:
        with transaction(client.app.state.factory) as session:  # type: ignore[attr-defined]
            _, key = jobs.create_admin(session, "boss@example.org")
        body = client.get("/api/v1/jobs/fresh/drift", params={"days": 3}, headers={"Authorization": f"Bearer {key}"})
        assert body.status_code == 200, body.text
        (day,) = body.json()["days"]
        assert (day["labels"], day["shares"]["neutral"], day["agreement"], day["warning"]) == (3, 1.0, 1.0, None)

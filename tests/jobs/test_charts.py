"""The requester console's chart data (``jobs.charts``) on each database, from a job whose answers and final
labels happened at set times: throughput per hour with its projected finish, final labels per hour and per
day, annotators' pace and skill, the confidence histogram, agreement per label, automated-labeling rounds, and
the cost curve from the quality snapshots every consolidation and round records (never twice the same)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from factories import LABELS, answer, make_dataset, make_job, make_workers, take
from groundswell import jobs
from groundswell.errors import NotFoundError
from groundswell.jobs.autolabel import auto_label_job
from groundswell.jobs.charts import CHARTS, chart_catalog, chart_data
from groundswell.jobs.charts_base import iso
from groundswell.jobs.consolidation import consolidate_job
from groundswell.jobs.quality_history import record_quality_snapshot
from groundswell.jobs.worker_agreement import agreement_summary
from groundswell.store.db import transaction
from groundswell.store.tables import (
    AutoLabelRound,
    ConsolidatedLabel,
    JobItem,
    Judgment,
    LabelEvent,
    QualitySnapshot,
    utcnow,
)

NOW = datetime(2026, 12, 4, 13, 0, tzinfo=UTC)
T10 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
#: (worker, label, seconds spent, submitted at): three answers in the 10:00 hour, none at 11:00, four at 12:00.
PLAN = [
    (0, "positive", 10.0, T10 + timedelta(minutes=5)),
    (0, "positive", 20.0, T10 + timedelta(minutes=6)),
    (0, "negative", 30.0, T10 + timedelta(minutes=7)),
    (0, "neutral", 40.0, T10 + timedelta(hours=2)),
    (1, "positive", 5.0, T10 + timedelta(hours=2, minutes=10)),
    (1, "positive", 5.0, T10 + timedelta(hours=2, minutes=20)),
    (1, "neutral", 9.0, T10 + timedelta(hours=2, minutes=25)),
]


def _snapshots(factory: sessionmaker[Session]) -> list[QualitySnapshot]:
    with factory() as session:
        return list(session.scalars(select(QualitySnapshot).order_by(QualitySnapshot.id)))


def _chart(factory: sessionmaker[Session], job: str, name: str) -> Any:
    with factory() as session:
        return chart_data(session, jobs.get_job(session, job), name, now=NOW)


@pytest.fixture
def worked(factory: sessionmaker[Session]) -> str:
    """Eight tweets, two answers wanted on each, and the seven answers of PLAN from two annotators."""
    job = make_job(factory, make_dataset(factory, count=8), "charts", workers_per_item=2)
    workers = make_workers(factory, 2)
    for worker, label, spent, at in PLAN:
        task = take(factory, job, workers[worker])
        answer(factory, workers[worker], task, label, time_spent_s=spent)
        with transaction(factory) as session:
            session.execute(update(Judgment).where(Judgment.lease_id == task.lease_id).values(submitted_at=at))
    return job


def _label(session: Session, job_id: int, item_id: int, label: str, confidence: float, *, human: bool = True) -> None:
    """A final label, as a consolidation or a round leaves it (the trigger writes its label event)."""
    session.execute(update(JobItem).where(JobItem.job_id == job_id, JobItem.item_id == item_id).values(is_done=True))
    session.execute(
        insert(ConsolidatedLabel).values(
            job_id=job_id, item_id=item_id, label=label, class_index=LABELS.index(label), confidence=confidence,
            method="ds" if human else "auto-label", human_annotated=human, judgment_count=int(human),
            updated_at=utcnow(),
        )
    )  # fmt: skip


def test_throughput_counts_answers_per_hour_and_projects_the_finish_at_the_recent_pace(
    factory: sessionmaker[Session], worked: str
) -> None:
    chart = _chart(factory, worked, "throughput")
    assert chart.columns == ["hour", "answers", "cumulative_answers"]
    assert chart.rows == [
        ["2026-12-04T10:00:00Z", 3, 3],
        ["2026-12-04T11:00:00Z", 0, 3],  # an idle hour is a zero, not a gap
        ["2026-12-04T12:00:00Z", 4, 7],
    ]
    # 16 answers wanted, 7 given; the pace is over the hours with answers: (3 + 4) / 2.
    assert chart.meta["answers_wanted"] == 9 and chart.meta["answers_so_far"] == 7
    assert chart.meta["recent_rate_per_hour"] == 3.5
    assert chart.meta["projected_finish"] == iso(NOW + timedelta(hours=9 / 3.5))
    with transaction(factory) as session:
        jobs.change_state(session, worked, "stop")
    assert _chart(factory, worked, "throughput").meta["projected_finish"] is None  # a stopped job finishes no more


def test_annotators_pace_and_skill_and_agreement_per_label(factory: sessionmaker[Session], worked: str) -> None:
    chart = _chart(factory, worked, "annotators")
    assert chart.columns == ["name", "answers", "median_seconds", "tweets_per_hour", "estimated_accuracy"]
    first, second = chart.rows
    # w0: four answers, median of 10, 20, 30, 40 s; 145 s of work (two one-minute gaps + the median: the
    # two-hour break is left out) for four answers. w1: the 10-minute gap is a break too.
    assert first[1:] == [4, 25.0, round(3600 * 4 / 145, 1), None]  # no skill before a full consolidation
    assert second[1:] == [3, 5.0, round(3600 * 3 / 305, 1), None]
    with transaction(factory) as session:
        consolidate_job(session, jobs.get_job(session, worked))
    skilled = _chart(factory, worked, "annotators")
    assert all(0.0 <= row[4] <= 1.0 for row in skilled.rows)
    agreement = _chart(factory, worked, "agreement")
    assert [row[0] for row in agreement.rows] == LABELS
    with factory() as session:
        summary = agreement_summary(session, jobs.get_job(session, worked))
    expected = [[r.share, r.specific_agreement, r.fleiss_kappa, r.krippendorff_alpha] for r in summary.per_label]
    assert [row[1:] for row in agreement.rows] == [[None if v is None else round(v, 4) for v in r] for r in expected]
    assert sum(row[1] for row in agreement.rows) == pytest.approx(1.0, abs=1e-3)  # of answers on shared tweets
    assert agreement.meta["judgments"] == 7 and agreement.meta["workers"] == 2


def test_final_labels_per_hour_within_two_days_and_per_day_beyond(factory: sessionmaker[Session]) -> None:
    job = make_job(factory, make_dataset(factory, count=6), "final", workers_per_item=1)
    with transaction(factory) as session:
        job_id = jobs.get_job(session, job).id
        items = session.scalars(select(JobItem.item_id).order_by(JobItem.item_id)).all()
        plan = [("positive", True, 30), ("negative", True, 45), ("positive", False, 130)]  # minutes after 10:00
        for item_id, (label, human, minutes) in zip(items, plan, strict=False):
            _label(session, job_id, item_id, label, 0.9, human=human)
            session.execute(
                update(LabelEvent)
                .where(LabelEvent.item_id == item_id)
                .values(created_at=T10 + timedelta(minutes=minutes))
            )
        # The first item's label changes later: it still counts once, when it first became final.
        session.execute(insert(LabelEvent).values(job_id=job_id, item_id=items[0], created_at=NOW))
    chart = _chart(factory, job, "label_distribution")
    assert chart.columns == ["bucket", *LABELS, "machine"]
    assert chart.rows == [
        ["2026-12-04T10:00:00Z", 1, 1, 0, 0],
        ["2026-12-04T11:00:00Z", 0, 0, 0, 0],
        ["2026-12-04T12:00:00Z", 1, 0, 0, 1],
    ]
    assert chart.meta == {"bucket": "hour", "labels": LABELS, "total": 3}
    with transaction(factory) as session:
        session.execute(
            update(LabelEvent).where(LabelEvent.item_id == items[1]).values(created_at=T10 - timedelta(days=3))
        )
    daily = _chart(factory, job, "label_distribution")
    assert daily.rows == [
        ["2026-12-01", 0, 1, 0, 0],
        ["2026-12-02", 0, 0, 0, 0],
        ["2026-12-03", 0, 0, 0, 0],
        ["2026-12-04", 2, 0, 0, 1],
    ]
    assert daily.meta["bucket"] == "day"


def test_the_confidence_histogram_counts_each_final_label_once(factory: sessionmaker[Session]) -> None:
    job = make_job(factory, make_dataset(factory, count=9), "sure", workers_per_item=1)
    with transaction(factory) as session:
        job_id = jobs.get_job(session, job).id
        items = session.scalars(select(JobItem.item_id).order_by(JobItem.item_id)).all()
        values = [0.0, 0.05, 0.15, 0.5, 0.999, 1.0]
        for item_id, value in zip(items, values, strict=False):
            _label(session, job_id, item_id, "positive", value)
        _label(session, job_id, items[6], "negative", 0.97, human=False)
        # A provisional label (the tweet still collects answers) is not final: left out.
        session.execute(
            insert(ConsolidatedLabel).values(
                job_id=job_id, item_id=items[7], label="neutral", class_index=2, confidence=0.5, method="mv",
                human_annotated=True, judgment_count=1,
            )
        )  # fmt: skip
    chart = _chart(factory, job, "confidence")
    assert chart.columns == ["bin_low", "bin_high", "human", "machine"]
    assert len(chart.rows) == 20 and chart.rows[0][:2] == [0.0, 0.05] and chart.rows[-1][:2] == [0.95, 1.0]
    human = {i: row[2] for i, row in enumerate(chart.rows) if row[2]}
    machine = {i: row[3] for i, row in enumerate(chart.rows) if row[3]}
    assert human == {0: 1, 1: 1, 3: 1, 10: 1, 19: 2}  # 0.15 opens bin 3; 1.0 goes in the last bin
    assert machine == {19: 1}
    assert sum(row[2] + row[3] for row in chart.rows) == chart.meta["labels"] == 7
    assert chart.meta["threshold"] == 0.7


def test_rounds_with_their_coverage(factory: sessionmaker[Session]) -> None:
    job = make_job(factory, make_dataset(factory, count=8), "rounds", workers_per_item=1)
    with transaction(factory) as session:
        job_id = jobs.get_job(session, job).id
        session.execute(
            insert(AutoLabelRound),
            [
                {"job_id": job_id, "round_number": 1, "human_labels_used": 0, "threshold": None,
                 "validation_accuracy": None, "validation_lower_bound": None, "items_machine_labeled": 0,
                 "created_at": T10},
                {"job_id": job_id, "round_number": 2, "human_labels_used": 4, "threshold": 0.912345,
                 "validation_accuracy": 0.95, "validation_lower_bound": 0.9, "items_machine_labeled": 2,
                 "created_at": T10 + timedelta(hours=1)},
                {"job_id": job_id, "round_number": 3, "human_labels_used": 5, "threshold": 0.9,
                 "validation_accuracy": 0.96, "validation_lower_bound": 0.91, "items_machine_labeled": 1,
                 "created_at": T10 + timedelta(hours=2)},
            ],
        )  # fmt: skip
    chart = _chart(factory, job, "rounds")
    assert chart.rows == [
        [1, 0, None, None, None, 0, 0.0, 0.0, "2026-12-04T10:00:00Z"],
        [2, 4, 0.9123, 0.95, 0.9, 2, 0.25, 0.25, "2026-12-04T11:00:00Z"],
        [3, 5, 0.9, 0.96, 0.91, 1, 0.125, 0.375, "2026-12-04T12:00:00Z"],
    ]
    assert chart.meta == {"items": 8, "target": None}


def test_each_consolidation_records_a_cost_point_once_and_the_curve_is_in_time_order(
    factory: sessionmaker[Session], worked: str
) -> None:
    live = _chart(factory, worked, "cost")  # labels (per-submit votes) but no point stored yet
    assert live.meta["live"] is True and len(live.rows) == 1 and _snapshots(factory) == []
    assert live.rows[0][:3] == [iso(NOW), 7, round(7 / 8, 3)]
    with transaction(factory) as session:
        consolidate_job(session, jobs.get_job(session, worked))
    (first,) = _snapshots(factory)
    assert (first.answers_spent, first.machine_labeled) == (7, 0) and first.items_labeled > 0
    with transaction(factory) as session:
        consolidate_job(session, jobs.get_job(session, worked))  # nothing changed: no second point
        assert record_quality_snapshot(session, jobs.get_job(session, worked)) is None
    assert len(_snapshots(factory)) == 1
    with transaction(factory) as session:
        job = jobs.get_job(session, worked)
        item_id = session.scalars(select(JobItem.item_id).where(JobItem.started.is_(False)).limit(1)).one()
        _label(session, job.id, item_id, "neutral", 0.8, human=False)
        consolidate_job(session, job)  # a machine label arrived since: a new point
    first, second = _snapshots(factory)
    assert (second.answers_spent, second.machine_labeled) == (7, 1)
    assert second.items_labeled == first.items_labeled + 1
    with transaction(factory) as session:  # the curve is in time order, whatever order rows were written in
        session.execute(
            update(QualitySnapshot).where(QualitySnapshot.id == second.id).values(created_at=T10 - timedelta(hours=1))
        )
    chart = _chart(factory, worked, "cost")
    assert chart.meta["live"] is False and chart.meta["target"] is None and chart.meta["items"] == 8
    assert [row[0] for row in chart.rows] == [iso(T10 - timedelta(hours=1)), iso(first.created_at)]
    assert [row[-1] for row in chart.rows] == [1, 0]
    assert all(len(row) == len(chart.columns) for row in chart.rows)


def test_an_automated_labeling_round_records_a_cost_point(factory: sessionmaker[Session]) -> None:
    settings = {"auto_label": True, "accuracy_target": 0.9, "auto_label_min_items": 500}
    job = make_job(factory, make_dataset(factory, count=8), "auto", workers_per_item=1, settings=settings)
    (worker,) = make_workers(factory, 1)
    answer(factory, worker, take(factory, job, worker), "positive")
    with transaction(factory) as session:
        summary = auto_label_job(session, jobs.get_job(session, job))
    assert summary["round"] == 1
    (point,) = _snapshots(factory)
    assert (point.answers_spent, point.items_labeled, point.machine_labeled) == (1, 1, 0)
    cost = _chart(factory, job, "cost")
    assert cost.meta["target"] == 0.9 and cost.rows[0][1] == 1
    assert _chart(factory, job, "rounds").meta["target"] == 0.9


def test_every_chart_is_listed_in_order_and_an_unknown_one_is_not_found(
    factory: sessionmaker[Session], worked: str
) -> None:
    assert [c["name"] for c in chart_catalog()] == list(CHARTS) == [
        "throughput", "label_distribution", "annotators", "confidence", "agreement", "rounds", "cost",
    ]  # fmt: skip
    for name in CHARTS:
        chart = _chart(factory, worked, name)
        assert (chart.name, chart.title) == (name, CHARTS[name][0]) and chart.description
        assert all(len(row) == len(chart.columns) for row in chart.rows), name
    with factory() as session, pytest.raises(NotFoundError, match="no chart named 'pie'"):
        chart_data(session, jobs.get_job(session, worked), "pie")
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(QualitySnapshot)) == 0  # reading records nothing

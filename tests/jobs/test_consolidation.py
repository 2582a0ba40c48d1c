"""Consolidation inside jobs, on both databases: the per-submit majority vote, the full model with worker
skills and agreement, gold items kept out, and dynamic redundancy as routing sees it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from factories import LABELS, answer, make_dataset, make_job, make_workers, take
from groundswell.consolidate import AUTO_CANDIDATES
from groundswell.domain import JobState
from groundswell.errors import InvalidInputError
from groundswell.jobs import JobSpec, Task, create_job, get_job
from groundswell.jobs.consolidation import consolidate_job
from groundswell.jobs.worker_agreement import agreement_summary, worker_skills
from groundswell.store.db import transaction
from groundswell.store.tables import ConsolidatedLabel, Item, JobItem, Judgment, utcnow

Labeler = Callable[[int, int], str]


def _labels(factory: sessionmaker[Session], job: str) -> dict[int, ConsolidatedLabel]:
    with factory() as session:
        job_id = get_job(session, job).id
        rows = session.scalars(select(ConsolidatedLabel).where(ConsolidatedLabel.job_id == job_id))
        return {row.item_id: row for row in rows}


def _rows(factory: sessionmaker[Session], job: str) -> dict[int, JobItem]:
    with factory() as session:
        job_id = get_job(session, job).id
        return {r.item_id: r for r in session.scalars(select(JobItem).where(JobItem.job_id == job_id))}


def _work_through(factory: sessionmaker[Session], job: str, workers: list[Any], labeler: Labeler) -> int:
    """Every worker takes and answers tasks in turn until none is left; ``labeler(worker index, item id)``."""
    answered, progress = 0, True
    while progress:
        progress = False
        for index, worker in enumerate(workers):
            task = take(factory, job, worker)
            if isinstance(task, Task):
                answer(factory, worker, task, label=labeler(index, task.item_id))
                answered += 1
                progress = True
    return answered


def _consolidate(factory: sessionmaker[Session], job: str, **kwargs: Any) -> Any:
    with transaction(factory) as session:
        return consolidate_job(session, get_job(session, job), **kwargs)


def test_each_submit_updates_the_items_majority_vote(
    factory: sessionmaker[Session], job: str, workers: list[Any]
) -> None:
    expected = [("positive", 0.0, 1), ("positive", 1.0, 2), ("positive", 2 / 3, 3)]
    given = ["positive", "positive", "negative"]
    item_id = None
    for worker, label, (winner, confidence, count) in zip(workers, given, expected, strict=False):
        task = take(factory, job, worker)
        assert isinstance(task, Task)
        item_id = item_id or task.item_id
        assert task.item_id == item_id  # started items are finished first
        answer(factory, worker, task, label=label)
        row = _labels(factory, job)[item_id]
        assert (row.label, row.method, row.judgment_count, row.human_annotated) == (winner, "mv", count, True)
        assert row.confidence == pytest.approx(confidence)
        assert row.class_index == LABELS.index(winner)


def test_full_consolidation_stores_labels_skills_and_agreement(
    factory: sessionmaker[Session], job: str, workers: list[Any]
) -> None:
    # Workers 0–2 always say the item's "truth"; worker 3 always says neutral.
    truth = {}

    def labeler(index: int, item_id: int) -> str:
        truth.setdefault(item_id, LABELS[item_id % 2])
        return "neutral" if index == 3 else truth[item_id]

    assert _work_through(factory, job, workers, labeler) == 30
    report = _consolidate(factory, job, method="ds")
    assert (report.method, report.items_labeled, report.judgments, report.workers) == ("ds", 10, 30, 4)
    labels = _labels(factory, job)
    assert {item: row.label for item, row in labels.items()} == truth
    assert all(row.method == "ds" and row.judgment_count == 3 and row.human_annotated for row in labels.values())
    assert all(row.updated_at == report.snapshot for row in labels.values())
    with factory() as session:
        the_job = get_job(session, job)
        skills = {row.worker_id: row for row in worker_skills(session, the_job)}
        summary = agreement_summary(session, the_job)
    assert set(skills) == {w.id for w in workers}
    assert skills[workers[3].id].accuracy < 0.5 < skills[workers[0].id].accuracy
    assert skills[workers[0].id].confusion is not None and len(skills[workers[0].id].confusion or []) == 3
    assert sum(row.judgments for row in skills.values()) == 30
    assert summary.judgments == 30 and summary.items_judged == 10 and summary.items_with_overlap == 10
    assert summary.krippendorff_alpha is not None and -1.0 <= summary.krippendorff_alpha < 1.0
    assert [row.label for row in summary.per_label] == LABELS
    assert summary.items_labeled == 10 and summary.methods == {"ds": 10}


def test_auto_method_and_an_empty_job(factory: sessionmaker[Session], job: str, workers: list[Any]) -> None:
    empty = _consolidate(factory, job)
    assert (empty.items_labeled, empty.judgments, empty.reason) == (0, 0, "no judgments yet")
    _work_through(factory, job, workers[:3], lambda index, item: LABELS[(index + item) % 3 if index else item % 3])
    report = _consolidate(factory, job)
    assert report.method in AUTO_CANDIDATES and report.reason.startswith("auto:")
    assert report.items_labeled == 10


def test_a_fit_never_overwrites_a_newer_per_submit_label(
    factory: sessionmaker[Session], job: str, workers: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    task = take(factory, job, workers[0])
    assert isinstance(task, Task)
    answer(factory, workers[0], task, label="negative")
    # A fit whose snapshot predates that answer (it read the judgments before the submit committed).
    from groundswell.jobs import consolidation

    monkeypatch.setattr(consolidation, "utcnow", lambda: utcnow() - timedelta(hours=1))
    _consolidate(factory, job, method="ods")
    assert _labels(factory, job)[task.item_id].method == "mv"
    monkeypatch.undo()
    _consolidate(factory, job, method="ods")
    assert _labels(factory, job)[task.item_id].method == "ods"


def test_gold_items_inform_skills_but_never_get_a_label(
    factory: sessionmaker[Session], job: str, workers: list[Any]
) -> None:
    rows = _rows(factory, job)
    gold_ids = sorted(rows)[:3]
    with transaction(factory) as session:
        for item_id in gold_ids:
            row = session.get(JobItem, (rows[item_id].job_id, item_id))
            item = session.get(Item, item_id)
            assert row is not None and item is not None
            row.is_gold = True
            item.gold_label = "negative"
    _work_through(factory, job, workers, lambda index, item: "negative" if index < 2 else "positive")
    report = _consolidate(factory, job, method="mv")
    assert report.gold_items == 3 and report.items_labeled == 7
    assert not set(_labels(factory, job)) & set(gold_ids)
    with factory() as session:
        skills = {row.worker_id: row for row in worker_skills(session, get_job(session, job))}
    gold_scores = {w.id: skills[w.id].gold_accuracy for w in workers if skills[w.id].gold_accuracy is not None}
    assert gold_scores and all(score in (0.0, 1.0) for score in gold_scores.values())
    assert all(gold_scores[w.id] == 1.0 for w in workers[:2] if w.id in gold_scores)


# --- dynamic redundancy ---------------------------------------------------------------------------------------


def _dynamic_job(factory: sessionmaker[Session], dataset: str, name: str, **settings: Any) -> str:
    return make_job(
        factory,
        dataset,
        name=name,
        workers_per_item=2,
        max_workers_per_item=5,
        settings={"dynamic_redundancy": True, **settings},
    )


def test_two_agreeing_answers_stop_at_two(factory: sessionmaker[Session]) -> None:
    job = _dynamic_job(factory, make_dataset(factory, "agree", count=2), "agree")
    workers = make_workers(factory, 5, team=None)
    assert _work_through(factory, job, workers, lambda index, item: "positive") == 4
    rows = _rows(factory, job)
    assert all((r.judgments_wanted, r.judgments_accepted, r.is_done) == (2, 2, True) for r in rows.values())
    assert all(row.confidence == 1.0 for row in _labels(factory, job).values())
    with factory() as session:
        assert get_job(session, job).state is JobState.COMPLETED


def test_a_split_item_asks_for_more_up_to_the_maximum(factory: sessionmaker[Session]) -> None:
    job = _dynamic_job(factory, make_dataset(factory, "split", count=1), "split")
    workers = make_workers(factory, 7, team=None)
    # 2/3 positive-negative alternation never reaches 0.7: 1–1, 2–1, 2–2, 3–2.
    assert _work_through(factory, job, workers, lambda index, item: LABELS[index % 2]) == 5
    (row,) = _rows(factory, job).values()
    assert (row.judgments_wanted, row.judgments_accepted, row.leases_active, row.is_done) == (5, 5, 0, True)
    (label,) = _labels(factory, job).values()
    assert label.judgment_count == 5 and label.confidence == pytest.approx(0.6)


def test_an_item_that_becomes_confident_stops_early(factory: sessionmaker[Session]) -> None:
    job = _dynamic_job(factory, make_dataset(factory, "late", count=1), "late")
    workers = make_workers(factory, 6, team=None)
    # negative, positive, positive, positive: 1–1 → 2–1 (0.67, more) → 3–1 (0.75, stop) at four answers.
    assert _work_through(factory, job, workers, lambda index, item: "negative" if index == 0 else "positive") == 4
    (row,) = _rows(factory, job).values()
    assert (row.judgments_wanted, row.judgments_accepted, row.is_done) == (4, 4, True)


def test_routing_never_exceeds_the_maximum_with_many_workers(factory: sessionmaker[Session]) -> None:
    job = _dynamic_job(factory, make_dataset(factory, "many", count=4), "many", redundancy_threshold=0.99)
    workers = make_workers(factory, 8, team=None)
    _work_through(factory, job, workers, lambda index, item: LABELS[(index * 7 + item) % 3])
    rows = _rows(factory, job)
    assert all(r.judgments_accepted <= 5 and r.judgments_wanted <= 5 and r.is_done for r in rows.values())
    with factory() as session:
        job_id = get_job(session, job).id
        per_item = session.execute(
            select(Judgment.item_id, func.count()).where(Judgment.job_id == job_id).group_by(Judgment.item_id)
        ).all()
    assert all(count <= 5 for _, count in per_item)


def test_without_dynamic_redundancy_an_unsure_item_stops_at_the_minimum(factory: sessionmaker[Session]) -> None:
    job = make_job(factory, make_dataset(factory, "fixed", count=1), name="fixed", workers_per_item=2,
                   max_workers_per_item=5)  # fmt: skip
    workers = make_workers(factory, 4, team=None)
    assert _work_through(factory, job, workers, lambda index, item: LABELS[index % 2]) == 2


@pytest.mark.parametrize(
    ("settings", "minimum", "given", "expected"),
    [
        ({"dynamic_redundancy": True}, 1, None, 5),  # the default cap under dynamic redundancy
        ({"dynamic_redundancy": True, "redundancy_rule": "posterior"}, 1, None, 5),
        ({"dynamic_redundancy": True}, 4, None, 6),  # at least two above the minimum
        ({"dynamic_redundancy": True}, 8, None, 9),  # never above 9
        ({"dynamic_redundancy": True}, 1, 3, 3),  # as given
        ({}, 3, None, 3),  # without dynamic redundancy: the minimum
    ],
)
def test_the_maximum_answers_per_tweet_defaults_to_five_under_dynamic_redundancy(
    factory: sessionmaker[Session],
    dataset: str,
    settings: dict[str, Any],
    minimum: int,
    given: int | None,
    expected: int,
) -> None:
    spec = JobSpec(
        name="capped",
        dataset=dataset,
        labels=LABELS,
        workers_per_item=minimum,
        max_workers_per_item=given,
        settings=settings,
    )
    with transaction(factory) as session:
        assert create_job(session, spec).max_workers_per_item == expected


@pytest.mark.parametrize(
    ("settings", "maximum", "message"),
    [
        ({"dynamic_redundancy": True}, 2, "needs --max-workers-per-item above"),
        ({"dynamic_redundancy": "yes"}, 4, "true or false"),
        ({"dynamic_redundancy": True, "redundancy_threshold": 1.5}, 4, r"in \(0, 1\]"),
        ({"consolidation_method": "magic"}, 2, "consolidation_method"),
    ],
)
def test_consolidation_settings_are_validated_at_creation(
    factory: sessionmaker[Session], dataset: str, settings: dict[str, Any], maximum: int, message: str
) -> None:
    spec = JobSpec(
        name="bad", dataset=dataset, labels=LABELS, workers_per_item=2, max_workers_per_item=maximum, settings=settings
    )
    with transaction(factory) as session, pytest.raises(InvalidInputError, match=message):
        create_job(session, spec)


@pytest.mark.parametrize("method", ["glad", "mace"])
def test_a_job_can_be_consolidated_by_glad_or_mace(
    factory: sessionmaker[Session], job: str, workers: list[Any], method: str
) -> None:
    _work_through(factory, job, workers[:3], lambda index, item: LABELS[item % 3] if index else LABELS[(item + 1) % 3])
    report = _consolidate(factory, job, method=method)
    assert report.method == method and report.items_labeled == 10
    labels = _labels(factory, job)
    assert {row.method for row in labels.values()} == {method}
    # Two of three workers agree on every tweet: their label wins.
    assert all(row.label == LABELS[item_id % 3] for item_id, row in labels.items())

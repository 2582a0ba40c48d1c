"""An admin's corrections of labels (adjudication), on each database: recorded with their history, final over
every other writer (the annotators' hot path in Python and in PostgreSQL's functions, the undo of a vote,
full consolidation, dynamic redundancy, machine labels), reverted, in the label feed once per change, and
exported as such."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from factories import answer, make_job, take
from groundswell import jobs
from groundswell.domain import JobState, LeaseState
from groundswell.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from groundswell.jobs import NoTask, Task
from groundswell.jobs.adjudication import correct_label, label_detail, revert_correction
from groundswell.jobs.annotate import routing_sql
from groundswell.jobs.annotate.answer_vote import incremental_update
from groundswell.jobs.autolabel_write import write_machine_labels
from groundswell.jobs.consolidation import CONSOLIDATE_WORK, consolidate_job
from groundswell.jobs.exports import export_job
from groundswell.jobs.label_feed import feed_page
from groundswell.jobs.redundancy import ReviewChoice, ReviewPlan, write_review
from groundswell.store.db import transaction
from groundswell.store.driver import Driver
from groundswell.store.tables import (
    ConsolidatedLabel,
    Item,
    JobItem,
    LabelAdjudication,
    TaskLease,
    Work,
    Worker,
)


@pytest.fixture
def admin(factory: sessionmaker[Session]) -> Worker:
    with transaction(factory) as session:
        worker, _ = jobs.create_admin(session, "boss@example.org", "Boss")
    return worker


def _correct(factory: sessionmaker[Session], job: str, item: str, label: str, by: Worker, **kw: Any) -> Any:
    with transaction(factory) as session:
        return correct_label(session, jobs.get_job(session, job), item, label, by=by, **kw)


def _revert(factory: sessionmaker[Session], job: str, item: str, by: Worker) -> Any:
    with transaction(factory) as session:
        return revert_correction(session, jobs.get_job(session, job), item, by=by)


def _label(factory: sessionmaker[Session], job: str, item: str) -> ConsolidatedLabel | None:
    with factory() as session:
        return session.scalars(
            select(ConsolidatedLabel)
            .join(Item, Item.id == ConsolidatedLabel.item_id)
            .where(ConsolidatedLabel.job_id == jobs.get_job(session, job).id, Item.external_id == item)
        ).one_or_none()


def _routing(factory: sessionmaker[Session], job: str, item: str) -> tuple[int, int, int, bool]:
    """wanted, accepted, live leases, done."""
    with factory() as session:
        row = session.execute(
            select(JobItem.judgments_wanted, JobItem.judgments_accepted, JobItem.leases_active, JobItem.is_done)
            .join(Item, Item.id == JobItem.item_id)
            .where(JobItem.job_id == jobs.get_job(session, job).id, Item.external_id == item)
        ).one()
        return int(row[0]), int(row[1]), int(row[2]), bool(row[3])


def _feed(factory: sessionmaker[Session], job: str, since: int = 0) -> tuple[list[tuple[str, str]], int]:
    with transaction(factory) as session:
        page = feed_page(session, jobs.get_job(session, job), since=since)
        return [(r.item.external_id, r.label.label) for r in page.rows], page.next_since


def _take_item(factory: sessionmaker[Session], job: str, worker: Any, item: str) -> Task:
    task = take(factory, job, worker)
    assert isinstance(task, Task) and task.external_id == item, task
    return task


def test_a_correction_is_recorded_with_its_history_and_enters_the_feed_once_per_change(
    factory: sessionmaker[Session], dataset: str, workers: list[Any], admin: Worker
) -> None:
    job = make_job(factory, dataset, "one", workers_per_item=1)
    answer(factory, workers[0], _take_item(factory, job, workers[0], "t0"), "positive")
    assert _feed(factory, job)[0] == [("t0", "positive")]
    _, cursor = _feed(factory, job)

    row = _correct(factory, job, "t0", "negative", admin, note="sarcasm")
    assert (row.label, row.class_index, row.confidence, row.method) == ("negative", 1, 1.0, "adjudicated")
    assert (row.human_annotated, row.judgment_count, row.model_version_id) == (True, 1, None)
    changes, cursor = _feed(factory, job, cursor)
    assert changes == [("t0", "negative")]
    _correct(factory, job, "t0", "neutral", admin)  # a correction corrected: another history row
    changes, cursor = _feed(factory, job, cursor)
    assert changes == [("t0", "neutral")]
    _correct(factory, job, "t0", "neutral", admin, note="  ")  # the same label again: no change, no event
    assert _feed(factory, job, cursor) == ([], cursor)
    with factory() as session:
        history = session.scalars(select(LabelAdjudication).order_by(LabelAdjudication.id)).all()
    assert [(h.label, h.previous_label, h.previous_method, h.previous_confidence, h.note) for h in history] == [
        ("negative", "positive", "mv", 0.0, "sarcasm"),
        ("neutral", "negative", "adjudicated", 1.0, None),
        ("neutral", "neutral", "adjudicated", 1.0, None),
    ]
    assert {h.worker_id for h in history} == {admin.id}


def test_an_open_item_corrected_is_closed_its_held_task_ended_and_it_is_never_routed_again(
    factory: sessionmaker[Session], dataset: str, workers: list[Any], admin: Worker
) -> None:
    job = make_job(factory, dataset, "two", workers_per_item=2)
    answer(factory, workers[0], _take_item(factory, job, workers[0], "t0"), "positive")
    held = _take_item(factory, job, workers[1], "t0")  # started items are finished first
    assert _routing(factory, job, "t0") == (2, 1, 1, False)
    _correct(factory, job, "t0", "negative", admin)
    assert _routing(factory, job, "t0") == (1, 1, 0, True)
    with factory() as session:
        lease = session.get(TaskLease, held.lease_id)
        assert lease is not None and lease.state is LeaseState.EXPIRED
    with pytest.raises(ConflictError, match="all the answers it needs"):
        answer(factory, workers[1], held, "positive")
    assert _feed(factory, job)[0] == [("t0", "negative")]  # final once: the label, then the item closed
    offered = []
    while not isinstance(task := take(factory, job, workers[2]), NoTask):
        offered.append(task.external_id)
        answer(factory, workers[2], task, "positive")
    assert "t0" not in offered and len(offered) == 9
    label = _label(factory, job, "t0")
    assert label is not None and (label.label, label.method) == ("negative", "adjudicated")


@pytest.mark.parametrize("functions", [True, False], ids=["functions", "general-path"])
def test_later_answers_a_withdrawn_vote_and_full_consolidation_leave_a_correction_alone(
    factory: sessionmaker[Session],
    dataset: str,
    workers: list[Any],
    admin: Worker,
    functions: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = make_job(factory, dataset, "one", workers_per_item=1)
    first = workers[0]
    answer(factory, first, _take_item(factory, job, first, "t0"), "positive")
    _correct(factory, job, "t0", "negative", admin)
    _correct(factory, job, "t5", "neutral", admin)  # nobody answered it: consolidation's clean-up must spare it
    _, cursor = _feed(factory, job)
    # The annotator undoes and answers again, on the hot path (on PostgreSQL, with functions, its function).
    with transaction(factory) as session:
        task = jobs.undo_last_answer(session, job, first)
    assert _routing(factory, job, "t0") == (1, 0, 1, True)  # still final: not offered to anyone else
    if functions and factory.kw["bind"].dialect.name == "postgresql":  # the answer must take the function
        monkeypatch.setattr(routing_sql, "submit_reads", lambda *args: pytest.fail("the general path ran"))
    answer(factory, first, task, "positive", key="again", functions=functions)
    monkeypatch.undo()
    assert _routing(factory, job, "t0") == (1, 1, 0, True)
    # Every answer withdrawn: the per-submit vote would delete the item's human label.
    with transaction(factory) as session:
        item_id = session.scalar(select(Item.id).where(Item.external_id == "t0"))
        assert item_id is not None
        db = Driver(session)
        estimate, write = incremental_update(db, jobs.get_job(session, job).id, ["positive"], item_id, [(1, None)])
        assert estimate is None
        db.run(*write)
    with transaction(factory) as session:
        consolidate_job(session, jobs.get_job(session, job), method="mv")
    for item, expected in (("t0", "negative"), ("t5", "neutral")):
        label = _label(factory, job, item)
        assert label is not None and (label.label, label.method, label.confidence) == (expected, "adjudicated", 1.0)
    assert _feed(factory, job, cursor) == ([], cursor)


def test_dynamic_redundancy_never_reopens_a_corrected_item(
    factory: sessionmaker[Session], dataset: str, workers: list[Any], admin: Worker
) -> None:
    settings = {"dynamic_redundancy": True, "redundancy_threshold": 0.9}
    job = make_job(factory, dataset, "dyn", workers_per_item=1, max_workers_per_item=3, settings=settings)
    first = workers[0]
    answer(factory, first, _take_item(factory, job, first, "t0"), "positive")
    assert _routing(factory, job, "t0") == (2, 1, 0, False)  # one answer is unsure: one more wanted
    _correct(factory, job, "t0", "negative", admin)
    assert _routing(factory, job, "t0") == (1, 1, 0, True)
    with transaction(factory) as session:
        task = jobs.undo_last_answer(session, job, first)
    answer(factory, first, task, "positive", key="again")
    assert _routing(factory, job, "t0") == (1, 1, 0, True)  # the vote rule would have asked for another
    # The runner's review (posterior and target rules) reopens done items it picks, but not a corrected one.
    answer(factory, workers[1], _take_item(factory, job, workers[1], "t1"), "positive")
    answer(factory, workers[2], _take_item(factory, job, workers[2], "t1"), "positive")
    assert _routing(factory, job, "t1") == (2, 2, 0, True)
    with transaction(factory) as session:
        ids = dict(session.execute(select(Item.external_id, Item.id)).all())
        plan = ReviewPlan(0, posterior=SimpleNamespace())  # type: ignore[arg-type]
        choice = ReviewChoice(plan, [(ids["t0"], 1), (ids["t1"], 2)], {"items_reviewed": 2})
        result = write_review(session, jobs.get_job(session, job), choice)
    assert result["items_reopened"] == 1
    assert _routing(factory, job, "t0") == (1, 1, 0, True) and _routing(factory, job, "t1") == (3, 2, 0, False)


def test_machine_labels_close_untouched_items_but_never_one_with_a_correction(
    factory: sessionmaker[Session], dataset: str, admin: Worker
) -> None:
    job = make_job(factory, dataset, "auto")
    _correct(factory, job, "t5", "neutral", admin)
    with transaction(factory) as session:
        ids = [session.scalar(select(Item.id).where(Item.external_id == name)) for name in ("t5", "t6")]
        session.execute(update(JobItem).where(JobItem.item_id == ids[0]).values(is_done=False))  # as if reopened
        result = SimpleNamespace(machine_items=[0, 1], machine_labels=[0, 0], machine_confidence=[0.95, 0.95])
        closed = write_machine_labels(session, jobs.get_job(session, job), ids, result, ["positive"] * 3, None)
    assert closed == [ids[1]]
    corrected, machine = _label(factory, job, "t5"), _label(factory, job, "t6")
    assert corrected is not None and (corrected.label, corrected.method) == ("neutral", "adjudicated")
    assert machine is not None and (machine.label, machine.method) == ("positive", "auto-label")


def test_a_revert_restores_the_label_from_before_the_first_correction_and_queues_a_consolidation(
    factory: sessionmaker[Session], dataset: str, workers: list[Any], admin: Worker
) -> None:
    job = make_job(factory, dataset, "one", workers_per_item=1)
    for item in ("t0", "t1"):
        answer(factory, workers[0], _take_item(factory, job, workers[0], item), "positive")
    _, cursor = _feed(factory, job)
    _correct(factory, job, "t0", "negative", admin)
    _correct(factory, job, "t0", "neutral", admin)
    back = _revert(factory, job, "t0", admin)
    assert (back.label, back.class_index, back.method, back.confidence, back.human_annotated) == (
        "positive", 0, "mv", 0.0, True,
    )  # fmt: skip
    changes, cursor = _feed(factory, job, cursor)
    assert changes == [("t0", "positive")] * 3  # three changes; a reader gets the label as it is now
    with factory() as session:
        queued = session.scalars(select(Work).where(Work.kind == CONSOLIDATE_WORK)).all()
        assert [w.job_id for w in queued] == [jobs.get_job(session, job).id]
    with pytest.raises(ConflictError, match="no correction to revert"):
        _revert(factory, job, "t0", admin)
    # A second run of corrections starts after the revert: its revert restores the same label.
    _correct(factory, job, "t0", "negative", admin)
    assert _revert(factory, job, "t0", admin).label == "positive"
    _, cursor = _feed(factory, job)
    # Confirming the label it had, then reverting: the label never changed, so the feed says nothing.
    _correct(factory, job, "t1", "positive", admin)
    assert _revert(factory, job, "t1", admin).label == "positive"
    assert _feed(factory, job, cursor) == ([], cursor)
    with factory() as session:
        detail = label_detail(session, jobs.get_job(session, job), "t0")
    assert [(h.label, h.previous_label) for h in detail.history] == [
        (None, "negative"), ("negative", "positive"), (None, "neutral"), ("neutral", "negative"),
        ("negative", "positive"),
    ]  # fmt: skip


def test_a_revert_of_an_item_that_had_no_label_removes_it_and_opens_the_item_again(
    factory: sessionmaker[Session], dataset: str, workers: list[Any], admin: Worker
) -> None:
    job = make_job(factory, dataset, "one", workers_per_item=1)
    for n in range(9):  # every tweet but t9 answered
        answer(factory, workers[0], _take_item(factory, job, workers[0], f"t{n}"), "positive")
    _correct(factory, job, "t9", "neutral", admin)
    assert _routing(factory, job, "t9") == (0, 0, 0, True)
    with factory() as session:
        assert jobs.get_job(session, job).state is JobState.COMPLETED  # the correction closed its last item
    assert _revert(factory, job, "t9", admin) is None
    assert _label(factory, job, "t9") is None and _routing(factory, job, "t9") == (1, 0, 0, False)
    with factory() as session:
        assert jobs.get_job(session, job).state is JobState.RUNNING
    assert _take_item(factory, job, workers[1], "t9").external_id == "t9"


def test_bad_corrections_are_refused_with_a_clear_error(
    factory: sessionmaker[Session], dataset: str, workers: list[Any], admin: Worker
) -> None:
    job = make_job(factory, dataset, "one", workers_per_item=1)
    with pytest.raises(
        InvalidInputError, match="'angry' is not one of the labels of job 'one': positive, negative, neutral"
    ):
        _correct(factory, job, "t0", "angry", admin)
    with transaction(factory) as session:
        gold = session.scalar(select(Item.id).where(Item.external_id == "t3"))
        session.execute(update(JobItem).where(JobItem.item_id == gold).values(is_gold=True))
    for item in ("t3", "nope"):
        with pytest.raises(NotFoundError, match=f"job 'one' has no item '{item}'"):
            _correct(factory, job, item, "positive", admin)
        with pytest.raises(NotFoundError), factory() as session:
            label_detail(session, jobs.get_job(session, job), item)
    with pytest.raises(PermissionDeniedError):
        _correct(factory, job, "t0", "positive", workers[0])
    with pytest.raises(ConflictError):
        _revert(factory, job, "t0", admin)  # no label at all
    with pytest.raises(InvalidInputError, match="note"):
        _correct(factory, job, "t0", "positive", admin, note="x" * 2001)
    assert _label(factory, job, "t0") is None


def test_the_detail_has_the_answers_the_model_vote_and_the_history(
    factory: sessionmaker[Session], dataset: str, workers: list[Any], admin: Worker
) -> None:
    job = make_job(factory, dataset, "three", workers_per_item=3)
    for worker, label in zip(workers[:3], ["positive", "negative", "positive"], strict=True):
        answer(factory, worker, _take_item(factory, job, worker, "t0"), label, time_spent_s=2.5)
    with transaction(factory) as session:
        session.execute(
            update(JobItem)
            .where(JobItem.item_id == select(Item.id).where(Item.external_id == "t0").scalar_subquery())
            .values(model_label=1, model_confidence=0.7, model_proba=[0.2, 0.7, 0.1])
        )
    with factory() as session:
        before = label_detail(session, jobs.get_job(session, job), "t0")
    assert before.label is not None and not before.adjudicated and before.agreement == pytest.approx(2 / 3)
    assert [(a.worker, a.label, a.time_spent_s) for a in before.answers] == [
        ("w0-none", "positive", 2.5), ("w1-none", "negative", 2.5), ("w2-none", "positive", 2.5),
    ]  # fmt: skip
    assert before.model_vote is not None and before.model_vote.label == "negative"
    assert before.model_vote.proba == {"positive": 0.2, "negative": 0.7, "neutral": 0.1}
    assert before.history == [] and before.labels == ["positive", "negative", "neutral"]
    _correct(factory, job, "t0", "negative", admin, note="the model was right")
    with factory() as session:
        after = label_detail(session, jobs.get_job(session, job), "t0")
    assert after.adjudicated and after.agreement == pytest.approx(1 / 3)
    assert [(h.worker, h.label, h.previous_label, h.note) for h in after.history] == [
        ("Boss", "negative", "positive", "the model was right")
    ]


def test_the_export_marks_a_correction_and_keeps_ground_truths_keys(
    factory: sessionmaker[Session], dataset: str, workers: list[Any], admin: Worker, tmp_path: Path
) -> None:
    job = make_job(factory, dataset, "one", workers_per_item=1)
    for item in ("t0", "t1"):
        answer(factory, workers[0], _take_item(factory, job, workers[0], item), "positive")
    _correct(factory, job, "t0", "negative", admin)
    export_job(factory, job, str(tmp_path / "out.manifest"))
    lines = {line["source"]: line for line in map(json.loads, (tmp_path / "out.manifest").read_text().splitlines())}
    corrected, voted = lines["tweet 0"]["one-metadata"], lines["tweet 1"]["one-metadata"]
    assert lines["tweet 0"]["one"] == 1
    assert {k: v for k, v in corrected.items() if k != "creation-date"} == {
        "class-name": "negative",
        "confidence": 1.0,
        "type": "groundtruth/text-classification",
        "job-name": "labeling-job/one",
        "human-annotated": "yes",
        "adjudicated": "yes",
    }
    assert "adjudicated" not in voted and voted["class-name"] == "positive"
    export_job(factory, job, str(tmp_path / "labels.csv"), fmt="csv")
    with (tmp_path / "labels.csv").open(newline="", encoding="utf-8") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert (rows["t0"]["method"], rows["t0"]["label"], rows["t1"]["method"]) == ("adjudicated", "negative", "mv")

"""Routing on both databases: exactly N answers per tweet, never twice from one worker, leases that expire,
skips, late answers, idempotent retries and undo."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from factories import answer, make_dataset, make_job, make_workers, take
from groundswell.domain import JobState
from groundswell.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from groundswell.jobs import NoTask, Task, change_state, decline_task, get_job, undo_last_answer
from groundswell.jobs.annotate.routing_sql import STARTED_WINDOW
from groundswell.jobs.answers import effective_judgments_query
from groundswell.store.db import transaction
from groundswell.store.tables import JobItem, Judgment, utcnow


def _rows(factory: sessionmaker[Session], job: str) -> dict[int, JobItem]:
    with factory() as session:
        job_id = get_job(session, job).id
        return {r.item_id: r for r in session.scalars(select(JobItem).where(JobItem.job_id == job_id))}


def test_each_tweet_gets_exactly_three_answers_from_different_workers(
    factory: sessionmaker[Session], job: str, workers: list[Any]
) -> None:
    seen: dict[int, set[int]] = {}
    progress = True
    while progress:
        progress = False
        for worker in workers:
            task = take(factory, job, worker)
            if isinstance(task, Task):
                assert worker.id not in seen.setdefault(task.item_id, set())
                seen[task.item_id].add(worker.id)
                answer(factory, worker, task)
                progress = True
    assert len(seen) == 10
    assert all(len(ws) == 3 for ws in seen.values())
    rows = _rows(factory, job)
    assert all(r.is_done and r.judgments_accepted == 3 and r.leases_active == 0 for r in rows.values())
    with factory() as session:
        assert get_job(session, job).state is JobState.COMPLETED
        assert session.scalar(select(func.count()).select_from(Judgment)) == 30


def test_started_items_are_finished_before_fresh_ones(
    factory: sessionmaker[Session], job: str, workers: list[Any]
) -> None:
    first = take(factory, job, workers[0])
    assert isinstance(first, Task)
    answer(factory, workers[0], first)
    second = take(factory, job, workers[1])
    assert isinstance(second, Task) and second.item_id == first.item_id


def test_an_annotator_ahead_of_everyone_gets_fresh_tweets_and_the_others_finish_theirs(
    factory: sessionmaker[Session], workers: list[Any]
) -> None:
    """Working alone, one annotator starts more tweets than next-task's started window holds (all wanting two
    more answers): they keep getting fresh tweets, and the next annotator is sent to the started ones first."""
    count = STARTED_WINDOW + 30
    job = make_job(factory, make_dataset(factory, name="many", count=count + 5), name="many")
    answered: list[int] = []
    for _ in range(count):
        task = take(factory, job, workers[0])
        assert isinstance(task, Task) and task.item_id not in answered
        answer(factory, workers[0], task)
        answered.append(task.item_id)
    rows = _rows(factory, job)
    assert sum(row.started for row in rows.values()) == count
    fresh = take(factory, job, workers[0])
    assert isinstance(fresh, Task) and not rows[fresh.item_id].started
    other = take(factory, job, workers[1])
    assert isinstance(other, Task) and other.item_id == answered[0]


def test_priority_orders_fresh_items(factory: sessionmaker[Session], job: str, workers: list[Any]) -> None:
    rows = _rows(factory, job)
    favourite = sorted(rows)[7]
    with transaction(factory) as session:
        row = session.get(JobItem, (rows[favourite].job_id, favourite))
        assert row is not None
        row.priority = 5.0
    task = take(factory, job, workers[0])
    assert isinstance(task, Task) and task.item_id == favourite


def test_a_worker_holds_at_most_three_tasks_and_gets_held_ones_back(
    factory: sessionmaker[Session], job: str, workers: list[Any]
) -> None:
    first = take(factory, job, workers[0])
    again = take(factory, job, workers[0])
    assert isinstance(first, Task) and isinstance(again, Task) and again.lease_id == first.lease_id
    prefetched = take(factory, job, workers[0], exclude=frozenset({first.lease_id}))
    assert isinstance(prefetched, Task) and prefetched.item_id != first.item_id
    third = take(factory, job, workers[0], exclude=frozenset({first.lease_id, prefetched.lease_id}))
    assert isinstance(third, Task)
    refused = take(factory, job, workers[0], exclude=frozenset({first.lease_id, prefetched.lease_id, third.lease_id}))
    assert isinstance(refused, NoTask) and "finish the tasks" in refused.reason


def test_expired_lease_frees_the_slot_and_a_late_answer_needs_a_free_slot(
    factory: sessionmaker[Session], dataset: str
) -> None:
    job = make_job(factory, dataset, name="one-each", workers_per_item=1, task_time_limit_s=60)
    late, other = make_workers(factory, 2, team=None)[:2]
    task = take(factory, job, late)
    assert isinstance(task, Task)
    later = utcnow() + timedelta(seconds=61)
    taken = take(factory, job, other, now=later)  # sweeps the expired lease; the item is free again
    assert isinstance(taken, Task) and taken.item_id == task.item_id
    with pytest.raises(ConflictError, match="time limit for this task passed"):
        answer(factory, late, task, now=later)
    answer(factory, other, taken, now=later)
    assert _rows(factory, job)[task.item_id].judgments_accepted == 1


def test_a_late_answer_is_accepted_while_the_slot_is_free(factory: sessionmaker[Session], dataset: str) -> None:
    job = make_job(factory, dataset, name="late-ok", workers_per_item=1, task_time_limit_s=60)
    (worker,) = make_workers(factory, 1, team="late")
    task = take(factory, job, worker)
    assert isinstance(task, Task)
    result = answer(factory, worker, task, now=utcnow() + timedelta(minutes=5))
    assert result.label == "positive"
    row = _rows(factory, job)[task.item_id]
    assert (row.judgments_accepted, row.leases_active, row.is_done) == (1, 0, True)


def test_decline_frees_the_slot_and_the_item_is_not_offered_again(
    factory: sessionmaker[Session], job: str, workers: list[Any]
) -> None:
    task = take(factory, job, workers[0])
    assert isinstance(task, Task)
    with transaction(factory) as session:
        decline_task(session, workers[0], task.lease_id)
    assert _rows(factory, job)[task.item_id].leases_active == 0
    offered = set()
    while isinstance(nxt := take(factory, job, workers[0]), Task):
        offered.add(nxt.item_id)
        answer(factory, workers[0], nxt)
    assert task.item_id not in offered and len(offered) == 9


def test_a_retried_submit_returns_the_first_result_and_stores_one_row(
    factory: sessionmaker[Session], job: str, workers: list[Any]
) -> None:
    task = take(factory, job, workers[0])
    first = answer(factory, workers[0], task, "negative", key="same-key", time_spent_s=2.5)
    retry = answer(factory, workers[0], task, "negative", key="same-key", time_spent_s=2.5)
    assert retry.replayed and not first.replayed
    assert retry.judgment_id == first.judgment_id
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Judgment)) == 1
    with pytest.raises(ConflictError, match="already answered"):
        answer(factory, workers[0], task, "neutral", key="another-key")


def test_bad_labels_and_foreign_tasks_are_refused(factory: sessionmaker[Session], job: str, workers: list[Any]) -> None:
    task = take(factory, job, workers[0])
    with pytest.raises(InvalidInputError, match="not one of this job's labels"):
        answer(factory, workers[0], task, "angry")
    with pytest.raises(NotFoundError):
        answer(factory, workers[1], task, "positive")


def test_undo_withdraws_the_answer_and_hands_the_task_back(
    factory: sessionmaker[Session], job: str, workers: list[Any]
) -> None:
    task = take(factory, job, workers[0])
    answer(factory, workers[0], task, "negative")
    with transaction(factory) as session:
        back = undo_last_answer(session, job, workers[0])
    assert back.lease_id == task.lease_id and back.previous_label == "negative"
    row = _rows(factory, job)[task.item_id]
    assert (row.judgments_accepted, row.leases_active) == (0, 1)
    answer(factory, workers[0], back, "positive", key="after-undo")
    with factory() as session:
        job_id = get_job(session, job).id
        current = session.scalars(effective_judgments_query(job_id)).all()
        assert [(j.label, j.revision) for j in current] == [("positive", 2)]
        assert session.scalar(select(func.count()).select_from(Judgment)) == 3  # answer, withdrawal, answer


def test_undo_is_refused_after_the_time_limit(factory: sessionmaker[Session], job: str, workers: list[Any]) -> None:
    task = take(factory, job, workers[0])
    answer(factory, workers[0], task)
    with pytest.raises(ConflictError, match="too late to undo"), transaction(factory) as session:
        undo_last_answer(session, job, workers[0], now=utcnow() + timedelta(minutes=6))
    with pytest.raises(ConflictError, match="no answer to undo"), transaction(factory) as session:
        undo_last_answer(session, job, workers[1])


def test_paused_jobs_hand_out_nothing_but_accept_held_answers(
    factory: sessionmaker[Session], job: str, workers: list[Any]
) -> None:
    task = take(factory, job, workers[0])
    with transaction(factory) as session:
        change_state(session, job, "pause")
    assert isinstance(take(factory, job, workers[1]), NoTask)
    answer(factory, workers[0], task)
    with transaction(factory) as session:
        change_state(session, job, "stop")
    with pytest.raises(ConflictError, match="cannot start"), transaction(factory) as session:
        change_state(session, job, "start")


def test_team_jobs_are_closed_to_other_annotators(factory: sessionmaker[Session], dataset: str) -> None:
    (insider,) = make_workers(factory, 1, team="core")
    (outsider,) = make_workers(factory, 1, team="elsewhere")
    job = make_job(factory, dataset, name="core-only", teams=["core"])
    assert isinstance(take(factory, job, insider), Task)
    with pytest.raises(PermissionDeniedError):
        take(factory, job, outsider)


def test_max_concurrent_tasks_limits_items_in_flight(factory: sessionmaker[Session], dataset: str) -> None:
    job = make_job(factory, dataset, name="narrow", workers_per_item=1, max_concurrent_tasks=2)
    first, second, third = make_workers(factory, 3, team="narrow")
    held = [take(factory, job, worker) for worker in (first, second, third)]
    assert [isinstance(t, Task) for t in held] == [True, True, False]
    answer(factory, first, held[0])  # one item done: a third may start
    assert isinstance(take(factory, job, third), Task)

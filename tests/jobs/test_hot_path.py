"""PostgreSQL's one-statement route for an answer and the next task (migration 0005's functions): the common
case takes it, everything else falls back to the general path with the same results and errors, and both
databases break a vote's tie the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, sessionmaker

from factories import LABELS, answer, make_dataset, make_job, make_workers, take
from groundswell.errors import ConflictError, InvalidInputError, NotFoundError
from groundswell.jobs import NoTask, Task, change_state, create_invite, decline_task, get_job, redeem_invite
from groundswell.jobs.annotate import routing_sql as sql
from groundswell.jobs.annotate.hot_path import HotPath
from groundswell.jobs.people import session_token_digest
from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from groundswell.store.driver import Driver
from groundswell.store.tables import ConsolidatedLabel, JobItem, Judgment, LabelEvent, WebSession, Work, utcnow


@pytest.fixture
def pg_factory(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(postgres_url)
    prepare_store(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every statement the hot path sends through ``Driver.one`` / ``Driver.batch``, in order."""
    seen: list[Any] = []
    one, batch = Driver.one, Driver.batch

    def spy_one(self: Driver, statement: Any, params: Any) -> Any:
        seen.append(statement)
        return one(self, statement, params)

    def spy_batch(self: Driver, *calls: Any, **kwargs: Any) -> Any:
        seen.extend(statement for statement, _ in calls)
        return batch(self, *calls, **kwargs)

    monkeypatch.setattr(Driver, "one", spy_one)
    monkeypatch.setattr(Driver, "batch", spy_batch)
    return seen


def _submit_next(
    factory: sessionmaker[Session], worker: Any, task: Task, label: str = "positive", **kwargs: Any
) -> Any:
    return answer(factory, worker, task, label=label, next_exclude=frozenset(), **kwargs)


def test_an_answer_with_the_next_task_is_one_statement(
    pg_factory: sessionmaker[Session], statements: list[Any]
) -> None:
    job = make_job(pg_factory, make_dataset(pg_factory))
    (worker,) = make_workers(pg_factory, 1)
    task = take(pg_factory, job, worker)
    assert isinstance(task, Task)
    statements.clear()

    result = _submit_next(pg_factory, worker, task)

    assert statements == [sql.SUBMIT_FUNCTION]
    assert isinstance(result.next, Task) and result.next.item_id != task.item_id
    assert result.next.labels == LABELS and result.next.expires_at > result.next.leased_at
    with pg_factory() as session:
        stored = session.scalars(select(Judgment).where(Judgment.lease_id == task.lease_id)).one()
        assert (stored.id, stored.label, stored.revision, stored.worker_id) == (
            result.judgment_id,
            "positive",
            0,
            worker.id,
        )
        row = session.get(JobItem, (stored.job_id, task.item_id))
        assert row is not None and (row.judgments_accepted, row.leases_active) == (1, 0)
        lease_row = session.get(JobItem, (stored.job_id, result.next.item_id))
        assert lease_row is not None and (lease_row.leases_active, lease_row.started) == (1, True)


@pytest.mark.parametrize("rule", ["posterior", "target"])
def test_an_answer_under_a_runner_side_redundancy_rule_is_one_statement(
    pg_factory: sessionmaker[Session], statements: list[Any], rule: str
) -> None:
    settings = {"dynamic_redundancy": True, "redundancy_rule": rule, "auto_label": True, "accuracy_target": 0.9}
    job = make_job(pg_factory, make_dataset(pg_factory), workers_per_item=1, max_workers_per_item=3, settings=settings)
    (worker,) = make_workers(pg_factory, 1)
    task = take(pg_factory, job, worker)
    assert isinstance(task, Task)
    statements.clear()

    result = _submit_next(pg_factory, worker, task)

    assert statements == [sql.SUBMIT_FUNCTION]  # migration 0006: the target rule decides nothing on a submit
    assert isinstance(result.next, Task)


def test_next_task_alone_is_the_job_read_and_one_statement(
    pg_factory: sessionmaker[Session], statements: list[Any]
) -> None:
    job = make_job(pg_factory, make_dataset(pg_factory))
    (worker,) = make_workers(pg_factory, 1)

    task = take(pg_factory, job, worker)

    assert isinstance(task, Task)
    assert statements == [sql.JOB_BY_NAME, sql.NEXT_TASK_FUNCTION]


def test_no_request_runs_a_function_twice(pg_factory: sessionmaker[Session], statements: list[Any]) -> None:
    """A caller whose hot path already fell back asks for the general path at once (``functions=False``), and
    a submit whose function fell back on the next task does not ask the next-task function again."""
    dataset = make_dataset(pg_factory)
    job = make_job(pg_factory, dataset)
    (worker,) = make_workers(pg_factory, 1)
    statements.clear()
    task = take(pg_factory, job, worker, functions=False)
    assert isinstance(task, Task)
    result = _submit_next(pg_factory, worker, task, functions=False)
    assert isinstance(result.next, Task) and result.judgment_id
    assert sql.SUBMIT_FUNCTION not in statements and sql.NEXT_TASK_FUNCTION not in statements

    # A job with a cap on tweets in progress: the submit function stores the answer and leaves the next task to
    # the general path, which must not try the next-task function once more.
    capped = make_job(pg_factory, dataset, name="capped", max_concurrent_tasks=2)
    task = take(pg_factory, capped, worker)
    assert isinstance(task, Task)
    statements.clear()
    result = _submit_next(pg_factory, worker, task)
    assert isinstance(result.next, Task) and result.next.item_id != task.item_id
    assert statements.count(sql.SUBMIT_FUNCTION) == 1 and sql.NEXT_TASK_FUNCTION not in statements


def test_uncommon_cases_fall_back_with_the_general_paths_results(
    pg_factory: sessionmaker[Session], statements: list[Any]
) -> None:
    job = make_job(pg_factory, make_dataset(pg_factory))
    first, second = make_workers(pg_factory, 2)
    task = take(pg_factory, job, first)
    assert isinstance(task, Task)
    done = _submit_next(pg_factory, first, task, key="same")

    statements.clear()
    retry = _submit_next(pg_factory, first, task, key="same")  # a retry: replayed, not stored twice
    assert retry.replayed and retry.judgment_id == done.judgment_id
    assert statements[0] is sql.SUBMIT_FUNCTION and sql.LOCK_ITEM_OF_LEASE in statements

    with pytest.raises(NotFoundError):
        _submit_next(pg_factory, second, done.next)  # not their lease
    with pytest.raises(InvalidInputError, match="not one of this job's labels"):
        _submit_next(pg_factory, first, done.next, label="sarcastic")
    with pytest.raises(ConflictError, match="already used for a different answer"):
        _submit_next(pg_factory, first, done.next, key="same")
    with transaction(pg_factory) as session:
        decline_task(session, first, done.next.lease_id)
    with pytest.raises(ConflictError, match="skipped"):
        _submit_next(pg_factory, first, done.next)

    held = take(pg_factory, job, second)
    assert isinstance(held, Task)
    with transaction(pg_factory) as session:
        change_state(session, job, "pause")
    paused = _submit_next(pg_factory, second, held)  # an answer to a paused job counts; no next task
    assert isinstance(paused.next, NoTask) and "paused" in paused.next.reason


def test_the_last_answer_completes_the_job(pg_factory: sessionmaker[Session]) -> None:
    job = make_job(pg_factory, make_dataset(pg_factory, count=1), workers_per_item=1)
    (worker,) = make_workers(pg_factory, 1)
    task = take(pg_factory, job, worker)
    assert isinstance(task, Task)

    result = _submit_next(pg_factory, worker, task)

    assert isinstance(result.next, NoTask)
    with pg_factory() as session:
        assert get_job(session, job).state.value == "completed"


def test_dynamic_redundancys_vote_rule_runs_on_the_general_path(pg_factory: sessionmaker[Session]) -> None:
    settings = {"dynamic_redundancy": True, "redundancy_rule": "vote", "redundancy_threshold": 0.9}
    job = make_job(
        pg_factory, make_dataset(pg_factory, count=1), workers_per_item=2, max_workers_per_item=3, settings=settings
    )
    workers = make_workers(pg_factory, 2)
    for worker, label in zip(workers, ["positive", "negative"], strict=True):
        task = take(pg_factory, job, worker)
        assert isinstance(task, Task)
        _submit_next(pg_factory, worker, task, label=label)
    with pg_factory() as session:
        row = session.scalars(select(JobItem)).one()
        assert (row.judgments_wanted, row.is_done) == (3, False)  # a split vote asks for one more answer


def test_a_tied_vote_goes_to_the_same_label_on_both_databases(factory: sessionmaker[Session]) -> None:
    job = make_job(factory, make_dataset(factory, count=4), workers_per_item=3)
    workers = make_workers(factory, 2)
    tasks = []
    for worker, label in zip(workers, ["negative", "positive"], strict=True):
        task = take(factory, job, worker)
        assert isinstance(task, Task)
        answer(factory, worker, task, label=label)
        tasks.append(task)
    item_id = tasks[0].item_id
    assert tasks[1].item_id == item_id
    tied = [label for label in LABELS if label in ("negative", "positive")]
    with factory() as session:
        stored = session.scalars(select(ConsolidatedLabel).where(ConsolidatedLabel.item_id == item_id)).one()
    assert (stored.label, stored.confidence, stored.judgment_count) == (tied[item_id % 2], 0.5, 2)


# --- the signed-in annotator's one-call route (jobs.hot_path) ---------------------------------------------------


def _sign_in(factory: sessionmaker[Session], email: str = "a@example.org") -> tuple[Any, str, str]:
    """A new annotator's worker, browser-session token and CSRF token."""
    with transaction(factory) as session:
        _, invite = create_invite(session, email, team=None, valid_for=timedelta(days=1))
        worker, token = redeem_invite(session, invite, session_ttl=timedelta(days=1))
        csrf = session.scalars(
            select(WebSession.csrf_token).where(WebSession.token_hash == session_token_digest(token))
        ).one()
    return worker, token, csrf


class _SyncHotPath:
    """``HotPath`` driven from a test: each call runs to completion on one event loop of the test's own."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.loop = asyncio.new_event_loop()
        self.hot_path = HotPath(factory)

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        return self.loop.run_until_complete(self.hot_path.submit(*args, **kwargs))

    def next_task(self, *args: Any, **kwargs: Any) -> Any:
        return self.loop.run_until_complete(self.hot_path.next_task(*args, **kwargs))

    def close(self) -> None:
        self.loop.run_until_complete(self.hot_path.close())
        self.loop.close()


@pytest.fixture
def hot(pg_factory: sessionmaker[Session]) -> Iterator[_SyncHotPath]:
    driver = _SyncHotPath(pg_factory)
    yield driver
    driver.close()


def _transactions(factory: sessionmaker[Session]) -> list[int]:
    """Counts the transactions the engine begins from now on (the one-call route runs in autocommit)."""
    begun: list[int] = []
    event.listen(factory.kw["bind"], "begin", lambda _connection: begun.append(1))
    return begun


def test_a_signed_in_annotator_answers_and_gets_the_next_task_in_one_call(
    pg_factory: sessionmaker[Session], hot: _SyncHotPath
) -> None:
    job = make_job(pg_factory, make_dataset(pg_factory))
    worker, token, csrf = _sign_in(pg_factory)
    begun = _transactions(pg_factory)

    task = hot.next_task(token, csrf, job.upper())  # job names are case-insensitive
    assert isinstance(task, Task) and task.labels == LABELS and task.job == job
    result = hot.submit(
        token,
        csrf,
        task.lease_id,
        label="neutral",
        idempotency_key="k1",
        time_spent_s=2.5,
        next_exclude=frozenset(),
    )

    assert begun == []  # no transaction of the ORM's: each call was one statement on an autocommit connection
    assert result is not None and isinstance(result.next, Task) and result.next.item_id != task.item_id
    with pg_factory() as session:
        stored = session.get(Judgment, result.judgment_id)
        assert stored is not None
        assert (stored.worker_id, stored.item_id, stored.label, stored.time_spent_s) == (
            worker.id,
            task.item_id,
            "neutral",
            2.5,
        )
        vote = session.scalars(select(ConsolidatedLabel).where(ConsolidatedLabel.item_id == task.item_id)).one()
        assert (vote.label, vote.judgment_count) == ("neutral", 1)


def test_the_one_call_route_does_nothing_when_it_cannot_take_the_request(
    pg_factory: sessionmaker[Session], hot: _SyncHotPath
) -> None:
    job = make_job(pg_factory, make_dataset(pg_factory))
    worker, token, csrf = _sign_in(pg_factory)
    task = hot.next_task(token, csrf, job)
    assert isinstance(task, Task)
    submit = {"label": "positive", "idempotency_key": "k", "next_exclude": frozenset()}

    assert hot.submit(token, "wrong", task.lease_id, **submit) is None
    assert hot.submit(token, None, task.lease_id, **submit) is None
    assert hot.submit("not-a-session", csrf, task.lease_id, **submit) is None
    assert hot.next_task(token, "wrong", job) is None
    assert hot.next_task(token, csrf, "no-such-job") is None
    with pytest.raises(InvalidInputError, match="idempotency_key"):
        hot.submit(token, csrf, task.lease_id, label="positive", idempotency_key="")
    with transaction(pg_factory) as session:
        session.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert hot.submit(token, csrf, task.lease_id, **submit) is None
    with pg_factory() as session:
        assert session.scalars(select(Judgment)).all() == []  # none of them stored anything
    assert not HotPath(make_session_factory(make_engine("sqlite://"))).available  # SQLite: the general path
    assert worker.id is not None


def test_the_last_answer_through_the_one_call_route_completes_the_job(
    pg_factory: sessionmaker[Session], hot: _SyncHotPath
) -> None:
    job = make_job(pg_factory, make_dataset(pg_factory, count=1), workers_per_item=1)
    _, token, csrf = _sign_in(pg_factory)
    task = hot.next_task(token, csrf, job)
    assert isinstance(task, Task)

    result = hot.submit(token, csrf, task.lease_id, label="positive", idempotency_key="k", next_exclude=frozenset())

    assert result is not None and isinstance(result.next, NoTask)
    with pg_factory() as session:
        assert get_job(session, job).state.value == "completed"
        assert session.scalars(select(Work.kind)).all() == ["consolidate"]


def test_a_final_answer_through_the_one_call_route_that_changes_the_vote_is_one_label_event(
    pg_factory: sessionmaker[Session], hot: _SyncHotPath
) -> None:
    """The function writes the vote before it marks the item done: the label feed's triggers (migration 0009)
    then see a labelled item become done (one event), not also a done item's label change (a second)."""
    job = make_job(pg_factory, make_dataset(pg_factory, count=1), workers_per_item=3)
    annotators = [_sign_in(pg_factory, f"a{n}@example.org") for n in range(3)]
    tasks = [hot.next_task(token, csrf, job) for _, token, csrf in annotators]
    assert all(isinstance(task, Task) for task in tasks)
    item_id = tasks[0].item_id
    # The first two answers tie, and a tie goes to the tied label at position item id mod 2: that one is A.
    a, b = ("positive", "negative") if item_id % 2 == 0 else ("negative", "positive")
    after = []
    for (_, token, csrf), task, label in zip(annotators, tasks, [a, b, b], strict=True):
        assert hot.submit(token, csrf, task.lease_id, label=label, idempotency_key="k") is not None
        with pg_factory() as session:
            vote = session.scalars(select(ConsolidatedLabel.label).where(ConsolidatedLabel.item_id == item_id)).one()
            after.append((vote, session.scalars(select(LabelEvent.item_id)).all()))
    assert after == [(a, []), (a, []), (b, [item_id])]  # the third answer finishes the item and turns its vote

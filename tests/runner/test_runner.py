"""The background queue on both databases: enqueue, claim, run, retry and fail; periodic and end-of-job
consolidation; dead runners' rows reclaimed; SKIP LOCKED on PostgreSQL; handlers on single-threaded BLAS;
the growing schedule of automated-labeling rounds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from factories import answer, make_dataset, make_job, make_workers, take
from groundswell.domain import WorkState
from groundswell.errors import InvalidInputError
from groundswell.jobs import Task, get_job
from groundswell.jobs.autolabel import schedule_auto_label_rounds
from groundswell.runner import claim, enqueue, run_pending, single_threaded_blas
from groundswell.store import make_engine, make_session_factory, upgrade
from groundswell.store.db import transaction
from groundswell.store.tables import AutoLabelRound, ConsolidatedLabel, JobItem, Work, utcnow


def _works(factory: sessionmaker[Session]) -> list[Work]:
    with factory() as session:
        return list(session.scalars(select(Work).order_by(Work.id)))


def _answer_some(factory: sessionmaker[Session], job: str, workers: list[Any], count: int) -> None:
    for worker in workers:
        for _ in range(count):
            task = take(factory, job, worker)
            assert isinstance(task, Task)
            answer(factory, worker, task, label="negative")


@pytest.fixture
def job(factory: sessionmaker[Session]) -> str:
    return make_job(factory, make_dataset(factory, count=4), workers_per_item=2)


def test_enqueue_dedupes_and_run_pending_runs_a_consolidation(factory: sessionmaker[Session], job: str) -> None:
    _answer_some(factory, job, make_workers(factory, 2), 2)
    with transaction(factory) as session:
        job_id = get_job(session, job).id
        first = enqueue(session, "consolidate", job_id=job_id, payload={"method": "ds"})
        again = enqueue(session, "consolidate", job_id=job_id)
        assert again.id == first.id
    outcomes = run_pending(factory, runner_id="test-runner", schedule=False)
    assert [(o.kind, o.state) for o in outcomes] == [("consolidate", WorkState.DONE)]
    assert outcomes[0].result is not None and outcomes[0].result["method"] == "ds"
    (work,) = _works(factory)
    assert (work.state, work.claimed_by, work.attempts, work.error) == (WorkState.DONE, "test-runner", 1, None)
    with factory() as session:
        methods = set(session.scalars(select(ConsolidatedLabel.method)))
    assert methods == {"ds"}
    assert run_pending(factory, schedule=False) == []


def test_a_failure_is_retried_with_backoff_then_marked_failed(factory: sessionmaker[Session]) -> None:
    calls: list[int] = []

    def broken(session: Session, work: Work) -> dict[str, Any]:
        calls.append(work.id)
        raise RuntimeError("disk full")

    with transaction(factory) as session:
        enqueue(session, "flaky")
    now = utcnow()
    for attempt in (1, 2):
        (outcome,) = run_pending(factory, handlers={"flaky": broken}, schedule=False, now=now)
        assert outcome.state is WorkState.QUEUED and "disk full" in (outcome.error or "")
        assert run_pending(factory, handlers={"flaky": broken}, schedule=False, now=now) == []  # backing off
        now += timedelta(minutes=attempt)
    (outcome,) = run_pending(factory, handlers={"flaky": broken}, schedule=False, now=now)
    assert outcome.state is WorkState.FAILED
    (work,) = _works(factory)
    assert (work.state, work.attempts, len(calls)) == (WorkState.FAILED, 3, 3)
    assert work.error is not None and work.error.startswith("RuntimeError: disk full")


def test_a_deliberate_error_fails_at_once_and_other_kinds_are_left_alone(factory: sessionmaker[Session]) -> None:
    def refuse(session: Session, work: Work) -> dict[str, Any]:
        raise InvalidInputError("bad payload")

    with transaction(factory) as session:
        enqueue(session, "strict")
        enqueue(session, "someone-elses")
    (outcome,) = run_pending(factory, handlers={"strict": refuse}, schedule=False)
    assert outcome.state is WorkState.FAILED and "bad payload" in (outcome.error or "")
    assert [w.state for w in _works(factory)] == [WorkState.FAILED, WorkState.QUEUED]


def test_periodic_and_end_of_job_consolidation(factory: sessionmaker[Session], job: str) -> None:
    workers = make_workers(factory, 2)
    assert run_pending(factory) == []  # no answers yet: nothing to do
    _answer_some(factory, job, workers, 1)
    now = utcnow()
    assert [o.state for o in run_pending(factory, now=now)] == [WorkState.DONE]
    assert run_pending(factory, now=now + timedelta(minutes=5)) == []  # nothing new since
    _answer_some(factory, job, workers, 1)
    assert run_pending(factory, now=now + timedelta(seconds=10)) == []  # changed, but refitted < 60 s ago
    assert len(run_pending(factory, now=now + timedelta(seconds=61))) == 1
    _answer_some(factory, job, workers, 2)  # the last answers complete the job, which queues a final fit
    with factory() as session:
        queued = session.scalars(select(Work).where(Work.state == WorkState.QUEUED)).all()
        assert [(w.kind, w.job_id) for w in queued] == [("consolidate", get_job(session, job).id)]
    (final,) = run_pending(factory, now=utcnow())
    assert final.result is not None and final.result["items_labeled"] == 4
    with factory() as session:
        labels = session.scalars(select(ConsolidatedLabel)).all()
    assert len(labels) == 4 and all(label.method != "mv" or label.judgment_count == 2 for label in labels)


def test_a_dead_runners_row_is_claimed_again(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        enqueue(session, "slow")
    with transaction(factory) as session:
        assert claim(session, "dies") is not None
    with transaction(factory) as session:
        assert claim(session, "other") is None  # still fresh
    later = utcnow() + timedelta(hours=1)
    with transaction(factory) as session:
        work = claim(session, "other", now=later)
        assert work is not None and work.claimed_by == "other" and work.attempts == 2


def test_concurrent_runners_skip_each_others_rows_on_postgres(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as session:
            enqueue(session, "a", dedupe=False)
            enqueue(session, "a", dedupe=False)
        with transaction(factory) as first, transaction(factory) as second:
            mine = claim(first, "one")
            theirs = claim(second, "two")  # does not wait for the first runner's lock
            assert mine is not None and theirs is not None and mine.id != theirs.id
            with transaction(factory) as third:
                assert claim(third, "three") is None
    finally:
        engine.dispose()


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [int(info["num_threads"]) for info in threadpool_info() if info["user_api"] == "blas"]


def test_handlers_run_with_single_threaded_blas_and_the_setting_comes_back(factory: sessionmaker[Session]) -> None:
    import scipy.linalg  # noqa: F401  (loads SciPy's OpenBLAS next to NumPy's)

    seen: list[list[int]] = []

    def record(session: Session, work: Work) -> dict[str, Any]:
        seen.append(_blas_threads())
        return {}

    before = _blas_threads()
    with transaction(factory) as session:
        enqueue(session, "record")
    (outcome,) = run_pending(factory, handlers={"record": record}, schedule=False)
    assert outcome.state is WorkState.DONE
    assert seen and seen[0] and set(seen[0]) == {1}
    assert _blas_threads() == before
    with single_threaded_blas():  # nested use (the simulator's final fit around the runner's) keeps one limit
        with single_threaded_blas():
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {1}
    assert _blas_threads() == before


def _human_labels(factory: sessionmaker[Session], job: str, count: int) -> None:
    """Give the first ``count`` items of ``job`` a finished human label (done, consolidated)."""
    with transaction(factory) as session:
        job_row = get_job(session, job)
        items = session.scalars(
            select(JobItem.item_id).where(JobItem.job_id == job_row.id).order_by(JobItem.item_id).limit(count)
        ).all()
        session.execute(
            update(JobItem).where(JobItem.job_id == job_row.id, JobItem.item_id.in_(items)).values(is_done=True)
        )
        session.add_all(
            ConsolidatedLabel(
                job_id=job_row.id,
                item_id=item_id,
                label="negative",
                class_index=0,
                confidence=1.0,
                method="mv",
                human_annotated=True,
                judgment_count=1,
            )
            for item_id in items
            if session.get(ConsolidatedLabel, (job_row.id, item_id)) is None
        )


def _rounds_due(factory: sessionmaker[Session], job: str, last_used: int) -> int:
    """How many rounds the scheduler queues when the job's last round used ``last_used`` human labels."""
    with transaction(factory) as session:
        job_row = get_job(session, job)
        session.execute(delete(Work).where(Work.job_id == job_row.id))
        session.execute(delete(AutoLabelRound).where(AutoLabelRound.job_id == job_row.id))
        session.add(AutoLabelRound(job_id=job_row.id, round_number=1, human_labels_used=last_used))
        session.flush()
        return schedule_auto_label_rounds(session)


def test_the_round_schedule_grows_with_the_job(factory: sessionmaker[Session]) -> None:
    settings = {"auto_label": True, "seed_size": 20, "batch_size": 10}
    job = make_job(factory, make_dataset(factory, count=300), settings=settings)
    _human_labels(factory, job, 59)
    assert _rounds_due(factory, job, 50) == 0  # a step of batch_size (10) while 10 % is less
    _human_labels(factory, job, 60)
    assert _rounds_due(factory, job, 50) == 1
    _human_labels(factory, job, 219)
    assert _rounds_due(factory, job, 200) == 0  # 10 % of the 200 labels the last round used: 20
    _human_labels(factory, job, 220)
    assert _rounds_due(factory, job, 200) == 1
    with transaction(factory) as session:
        assert schedule_auto_label_rounds(session) == 0  # that round is queued already

"""`groundswell runner` killed mid-consolidation and mid-round: the next runner takes the work over, and it is
done exactly once in effect (no duplicated labels, no round counted twice, no orphan model, the queue drained).

Why: a runner's row is marked ``running`` when claimed, and its work is committed with the row marked done in
one transaction. A runner that dies must leave neither half its writes behind nor a row that blocks its job:
while a row is ``running``, no other consolidation or round of its kind is queued for the job.

Where the kill lands:

* PostgreSQL, deterministically: the test holds a table lock that the handler needs for its *last* write
  (``worker_skills`` for a consolidation, ``auto_label_rounds`` for a round), waits until the runner's backend
  is blocked on it, with every other write of the handler made, and kills the runner there. Meanwhile it also
  checks that the heartbeat keeps a live runner's row from being taken over, however long the work runs.
* SQLite, by timing: it kills the runner as soon as it sees the round's row running (a round on 1,500
  tweets takes about a second here; the consolidation, tens of milliseconds, is too quick to aim at) and
  checks that the kill did land before the round was committed. (Handlers now read, compute with no
  transaction open, then write briefly (``runner.staged``), so a kill here lands mostly in the compute step;
  aiming it at the write, as on PostgreSQL, is left to do.)

Runners run with ``--stale-after 2``: a row whose heartbeat is 2 s old is taken for abandoned (the default is
2 minutes, too long to wait for here).
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from factories import LABELS, answer, make_workers, take
from groundswell import jobs
from groundswell.domain import WorkState
from groundswell.jobs.autolabel import AUTO_LABEL_WORK
from groundswell.jobs.consolidation import CONSOLIDATE_WORK
from groundswell.jobs.setup import prepare_store
from groundswell.runner import claim, enqueue, heartbeat, mark_done
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from groundswell.store.tables import (
    AutoLabelRound,
    ConsolidatedLabel,
    Dataset,
    Item,
    JobItem,
    Judgment,
    ModelVersion,
    Work,
    WorkerSkill,
)
from servers import kill_group, start_runner

ITEMS = 1500
ANSWERS = 600
WORKERS = 3
STALE_S = 2.0
RUNNER = ("--poll", "0.2", "--stale-after", str(STALE_S))
WORDS = {
    "positive": ["love", "great", "happy", "awesome", "best"],
    "negative": ["hate", "awful", "sad", "terrible", "worst"],
    "neutral": ["today", "meeting", "bus", "weather", "report"],
}


def _prepare(factory: sessionmaker[Session]) -> str:
    """1,500 tweets whose words give their sentiment away, an auto-labeling job asking one answer per tweet,
    600 of them answered: enough for a first round to train, certify and machine-label."""
    rng = random.Random(7)
    truth = {}
    with transaction(factory) as session:
        dataset = Dataset(name="runner-tweets")
        session.add(dataset)
        session.flush()
        for i in range(ITEMS):
            label = LABELS[i % 3]
            truth[f"t{i}"] = label
            words = " ".join(rng.choice(WORDS[label]) for _ in range(3))
            session.add(
                Item(dataset_id=dataset.id, external_id=f"t{i}", text=f"{words} #{i}", content_hash=f"{i:032d}")
            )
    settings = {"auto_label": True, "seed_size": 100, "batch_size": 100, "min_items": 100}
    with transaction(factory) as session:
        spec = jobs.JobSpec(name="auto", dataset="runner-tweets", labels=LABELS, workers_per_item=1, settings=settings)
        jobs.create_job(session, spec)
        jobs.change_state(session, "auto", "start")
    workers = make_workers(factory, WORKERS)
    for n in range(ANSWERS):
        task = take(factory, "auto", workers[n % WORKERS])
        assert isinstance(task, jobs.Task), task
        answer(factory, workers[n % WORKERS], task, label=truth[task.external_id])
    return "auto"


def _wait_for(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
    return value


def _row(factory: sessionmaker[Session], kind: str) -> Work | None:
    """The job's first work row of ``kind``."""
    with factory() as session:
        return session.scalars(select(Work).where(Work.kind == kind).order_by(Work.id).limit(1)).one_or_none()


def _state(factory: sessionmaker[Session], kind: str) -> WorkState | None:
    row = _row(factory, kind)
    return None if row is None else row.state


def _heartbeat_at(factory: sessionmaker[Session], kind: str) -> Any:
    row = _row(factory, kind)
    return None if row is None else row.heartbeat_at


def _running(factory: sessionmaker[Session], kind: str, runner: str) -> Work | None:
    row = _row(factory, kind)
    return row if row is not None and row.state is WorkState.RUNNING and row.claimed_by == runner else None


@contextmanager
def _locked(engine: Engine, table: str) -> Iterator[None]:
    """Hold ``table`` in EXCLUSIVE mode (reads go on, writes wait) until the block ends."""
    with engine.connect() as connection:
        connection.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            connection.rollback()


def _waiting_on(engine: Engine, table: str) -> bool:
    """Whether some backend of this database waits for a lock, in a statement that writes ``table``."""
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query ILIKE :table"
                ),
                {"table": f"%{table}%"},
            ).scalar()
        )


def _take_over_refused(factory: sessionmaker[Session], kind: str) -> bool:
    """Whether another runner, judging by the same staleness, would leave the running row alone."""
    with factory() as session:
        taken = claim(session, "intruder", kinds=frozenset({kind}), stale_after=timedelta(seconds=STALE_S))
        session.rollback()
    return taken is None


def _kill_mid_work_on_postgres(engine: Engine, factory: sessionmaker[Session], runners: Runners) -> None:
    # Runner a: blocked writing the consolidation's worker skills, its labels written, uncommitted.
    with _locked(engine, "worker_skills"):
        a = runners.start("a")
        row = _wait_for(lambda: _running(factory, CONSOLIDATE_WORK, "a"), "runner a to claim the consolidation")
        _wait_for(lambda: _waiting_on(engine, "worker_skills"), "runner a to block on worker_skills")
        # Running for longer than the staleness, but alive: its heartbeat keeps other runners off it.
        stale = row.claimed_at + timedelta(seconds=STALE_S)
        _wait_for(lambda: _heartbeat_at(factory, CONSOLIDATE_WORK) >= stale, "heartbeats")
        assert _take_over_refused(factory, CONSOLIDATE_WORK)
        kill_group(a)
    # Lock released: a's orphaned backend ends its statement, finds its client gone and rolls back.
    assert _state(factory, CONSOLIDATE_WORK) is WorkState.RUNNING
    with _locked(engine, "auto_label_rounds"):
        # Runner b takes over the dead runner's consolidation once stale (2 s), or starts the round first;
        # either way it ends blocked writing the round's row, every other write of the round made.
        b = runners.start("b")
        _wait_for(lambda: _running(factory, AUTO_LABEL_WORK, "b"), "runner b to claim the round")
        _wait_for(lambda: _waiting_on(engine, "auto_label_rounds"), "runner b to block on auto_label_rounds")
        kill_group(b)


def _kill_mid_round_on_sqlite(factory: sessionmaker[Session], runners: Runners) -> None:
    a = runners.start("a")
    _wait_for(lambda: _running(factory, AUTO_LABEL_WORK, "a"), "runner a to start the round")
    kill_group(a)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(AutoLabelRound)) == 0  # killed before its commit
    assert _state(factory, AUTO_LABEL_WORK) is WorkState.RUNNING


class Runners:
    """`groundswell runner` processes named a, b, c…, each killed at the end if still alive."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url, self.data_dir = url, data_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str) -> subprocess.Popen[bytes]:
        process = start_runner(self.url, self.data_dir, *RUNNER, "--id", name, name=f"runner-{name}")
        self.started.append(process)
        return process

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                kill_group(process)


@pytest.mark.slow
def test_a_runner_killed_mid_work_is_taken_over_and_the_work_done_once(store_url: str, tmp_path: Path) -> None:
    engine = make_engine(store_url)
    prepare_store(engine)
    job_name = _prepare(make_session_factory(engine))
    # Watching from a plain engine: the store's own SQLite engine begins every transaction IMMEDIATE, so its
    # reads would wait for the runner's short writes (and, before handlers were staged, for the whole work).
    watcher = create_engine(store_url)
    factory = make_session_factory(watcher)
    runners = Runners(store_url, tmp_path)
    try:
        if engine.dialect.name == "postgresql":
            _kill_mid_work_on_postgres(engine, factory, runners)
        else:
            _kill_mid_round_on_sqlite(factory, runners)
        # The last runner: takes over what the dead ones held once their heartbeats are 2 s old, and drains
        # the queue.
        c = runners.start("c")

        def drained() -> bool:
            with factory() as session:
                states = session.scalars(select(Work.state)).all()
            return bool(states) and all(state is WorkState.DONE for state in states)

        _wait_for(drained, "the queue to drain")
        c.send_signal(signal.SIGTERM)
        assert c.wait(timeout=30) == 0
        _check_done_once(factory, job_name, tmp_path, killed_consolidation=engine.dialect.name == "postgresql")
    finally:
        runners.kill_all()
        watcher.dispose()
        engine.dispose()


def _check_done_once(
    factory: sessionmaker[Session], job_name: str, data_dir: Path, *, killed_consolidation: bool
) -> None:
    with factory() as session:
        job = jobs.get_job(session, job_name)
        works = session.scalars(select(Work).order_by(Work.id)).all()
        rounds = session.scalars(select(AutoLabelRound).order_by(AutoLabelRound.round_number)).all()
        models = session.scalars(select(ModelVersion).order_by(ModelVersion.id)).all()
        labels = session.scalars(select(ConsolidatedLabel).where(ConsolidatedLabel.job_id == job.id)).all()
        judged = set(session.scalars(select(Judgment.item_id).where(Judgment.job_id == job.id)).all())
        done_items = set(
            session.scalars(select(JobItem.item_id).where(JobItem.job_id == job.id, JobItem.is_done)).all()
        )
        skills = session.scalars(select(WorkerSkill.worker_id).where(WorkerSkill.job_id == job.id)).all()

    first = {kind: next(w for w in works if w.kind == kind) for kind in (CONSOLIDATE_WORK, AUTO_LABEL_WORK)}
    # The killed rows were taken over and finished: one more attempt each, by a runner still alive then.
    assert first[AUTO_LABEL_WORK].attempts == 2 and first[AUTO_LABEL_WORK].claimed_by in {"b", "c"}
    if killed_consolidation:
        assert first[CONSOLIDATE_WORK].attempts == 2 and first[CONSOLIDATE_WORK].claimed_by in {"b", "c"}
    assert all(w.state is WorkState.DONE and w.error is None for w in works)
    # One round per finished round row, numbered without gap or repeat; one model per round, none orphaned.
    round_rows = [w for w in works if w.kind == AUTO_LABEL_WORK]
    assert [r.round_number for r in rounds] == list(range(1, len(round_rows) + 1))
    assert [w.result["round"] for w in round_rows if w.result] == [r.round_number for r in rounds]
    assert sorted(m.id for m in models) == sorted(r.model_version_id for r in rounds if r.model_version_id)
    assert rounds[0].items_machine_labeled > 0  # the round did label tweets: its writes were worth losing
    # One label per tweet: a human label for every answered one, a machine label (of a stored model) for the
    # round's picks, and nothing else.
    human = [label for label in labels if label.human_annotated]
    machine = [label for label in labels if not label.human_annotated]
    assert sorted(label.item_id for label in human) == sorted(judged)
    assert len(machine) == sum(r.items_machine_labeled for r in rounds)
    assert {label.model_version_id for label in machine} <= {m.id for m in models}
    assert not judged & {label.item_id for label in machine}
    assert {label.item_id for label in labels} <= done_items
    assert sorted(skills) == sorted(set(skills)) and len(skills) == WORKERS
    # The dead attempt's model file was overwritten by the finished one's, not left beside it.
    folders = sorted(p.name for p in (data_dir / "models" / f"job-{job.id}").iterdir())
    assert folders == [f"round-{r.round_number}" for r in rounds if r.model_version_id]


def test_a_heartbeat_refreshes_only_a_row_its_runner_still_runs(factory: sessionmaker[Session]) -> None:
    """What keeps a live runner's long work from being taken over, and lets a stale row go (both databases)."""
    with transaction(factory) as session:
        enqueue(session, "slow")
    with transaction(factory) as session:
        work = claim(session, "alive")
        assert work is not None
        work_id, claimed = work.id, work.heartbeat_at
    later = claimed + timedelta(seconds=90)
    with transaction(factory) as session:
        assert heartbeat(session, work_id, "alive", now=later)
        assert not heartbeat(session, work_id, "someone-else", now=later)  # not theirs
    with transaction(factory) as session:  # fresh at +90 s: another runner leaves it alone
        assert claim(session, "other", now=claimed + timedelta(seconds=120), stale_after=timedelta(seconds=60)) is None
    with transaction(factory) as session:  # beats stopped: 61 s after the last one it is taken over
        taken = claim(session, "other", now=later + timedelta(seconds=61), stale_after=timedelta(seconds=60))
        assert taken is not None and (taken.id, taken.attempts, taken.claimed_by) == (work_id, 2, "other")
    with transaction(factory) as session:
        assert not heartbeat(session, work_id, "alive")  # the dead runner, had it lived, would learn it lost the row
        row = session.get(Work, work_id)
        assert row is not None
        mark_done(session, row, {})
    with transaction(factory) as session:
        assert not heartbeat(session, work_id, "other")  # finished: nothing to beat for

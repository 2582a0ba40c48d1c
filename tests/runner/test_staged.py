"""A long runner handler no longer holds the database while it computes (both databases; the point is SQLite).

Why: on SQLite every write transaction begins ``IMMEDIATE``, and the runner used to run a whole round (train,
certify, choose) inside one, so an annotator's next task or answer waited for the round, or got a 503. Now
the round reads in a read-only transaction, computes with none open, and writes in a short one
(``runner.staged``). Here the round's compute step is held open on an event, deterministically: meanwhile an
annotator takes and answers a task at once, and a person starts one of the items the round chose to
machine-label. Once the round goes on, its results are applied, except to what changed meanwhile: the
started item gets no machine label and keeps its routing priority.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from factories import LABELS, answer, make_workers, take
from groundswell import jobs
from groundswell.domain import WorkState
from groundswell.jobs import autolabel
from groundswell.jobs.autolabel import AUTO_LABEL_WORK
from groundswell.runner import enqueue, make_handlers, run_one
from groundswell.runner.loop import WorkOutcome
from groundswell.store.db import transaction
from groundswell.store.tables import AutoLabelRound, ConsolidatedLabel, Dataset, Item, JobItem, Work

ITEMS = 1500
ANSWERS = 600
WORDS = {
    "positive": ["love", "great", "happy", "awesome", "best"],
    "negative": ["hate", "awful", "sad", "terrible", "worst"],
    "neutral": ["today", "meeting", "bus", "weather", "report"],
}
#: An annotator's answer must not wait for the round: far below the held round (and SQLite's 30 s timeout).
PROMPT_S = 3.0


def _prepare(factory: sessionmaker[Session]) -> tuple[int, list[Any], dict[str, str]]:
    """1,500 tweets whose words give their sentiment away, an auto-labeling job, 600 answered: a first round
    trains, certifies and machine-labels."""
    rng = random.Random(7)
    truth = {}
    with transaction(factory) as session:
        dataset = Dataset(name="staged-tweets")
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
        spec = jobs.JobSpec(name="auto", dataset="staged-tweets", labels=LABELS, workers_per_item=1, settings=settings)
        job_id = jobs.create_job(session, spec).id
        jobs.change_state(session, "auto", "start")
    workers = make_workers(factory, 3)
    for n in range(ANSWERS):
        task = take(factory, "auto", workers[n % 3])
        assert isinstance(task, jobs.Task), task
        answer(factory, workers[n % 3], task, label=truth[task.external_id])
    return job_id, workers, truth


def test_an_annotator_is_not_kept_waiting_by_a_round_and_the_round_applies_what_still_holds(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id, workers, truth = _prepare(factory)
    computing, release = threading.Event(), threading.Event()
    computed: list[Any] = []
    real_compute = autolabel.compute_round

    def held_compute(plan: Any) -> Any:
        result = real_compute(plan)
        computed.append(result)
        computing.set()
        assert release.wait(60), "the test never let the round go on"
        return result

    monkeypatch.setattr(autolabel, "compute_round", held_compute)
    handlers = {AUTO_LABEL_WORK: make_handlers()[AUTO_LABEL_WORK]}
    with transaction(factory) as session:
        enqueue(session, AUTO_LABEL_WORK, job_id=job_id)
    outcomes: list[WorkOutcome | None] = []
    runner = threading.Thread(target=lambda: outcomes.append(run_one(factory, "runner", handlers=handlers)))
    runner.start()
    try:
        assert computing.wait(60), "the round never reached its compute step"
        # An annotator's next task and answer, while the round holds its results.
        started = time.perf_counter()
        task = take(factory, "auto", workers[0])
        assert isinstance(task, jobs.Task), task
        answer(factory, workers[0], task, label=truth[task.external_id])
        waited = time.perf_counter() - started
        # A person starts one of the tweets the round chose to machine-label (a direct short write).
        (done,) = computed
        ids = done.data["ids"]
        chosen = {int(ids[p]) for p in done.result.machine_items}
        assert len(chosen) > 1
        taken = min(chosen - {task.item_id})
        with transaction(factory) as session:
            session.execute(
                update(JobItem).where(JobItem.job_id == job_id, JobItem.item_id == taken).values(started=True)
            )
            priority = session.scalar(
                select(JobItem.priority).where(JobItem.job_id == job_id, JobItem.item_id == taken)
            )
    finally:
        release.set()
        runner.join(120)
    assert waited < PROMPT_S, f"an answer waited {waited:.2f} s for the round"
    (outcome,) = outcomes
    assert outcome is not None and outcome.state is WorkState.DONE, outcome
    with factory() as session:
        machine = set(
            session.scalars(
                select(ConsolidatedLabel.item_id).where(
                    ConsolidatedLabel.job_id == job_id, ConsolidatedLabel.human_annotated.is_(False)
                )
            )
        )
        (round_row,) = session.scalars(select(AutoLabelRound).where(AutoLabelRound.job_id == job_id)).all()
        work = session.scalars(select(Work).where(Work.kind == AUTO_LABEL_WORK)).one()
        started_row = session.get(JobItem, (job_id, taken))
    # Applied: every chosen tweet nobody touched meanwhile, and nothing else.
    assert machine == chosen - {taken, task.item_id}
    assert round_row.items_machine_labeled == len(machine) == outcome.result["items_machine_labeled"]  # type: ignore[index]
    assert (work.state, work.attempts, work.error) == (WorkState.DONE, 1, None)
    # The started tweet is its person's: open, no label, the priority it had.
    assert started_row is not None and not started_row.is_done and started_row.priority == priority

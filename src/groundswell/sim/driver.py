"""Drive a real job with simulated annotators, in-process, through the same routing and submit code the API
uses, and measure what it cost and how right the result is.

Every answer goes through ``jobs.next_task`` and ``jobs.submit_answer`` (one transaction each pair), so
dynamic redundancy, leases and priorities behave exactly as with people. When the job auto-labels, the
background runner's queue is drained in-process every ``batch_size`` answers and whenever nobody can get a
task, which is when a real runner would catch up; so is a job under dynamic redundancy's ``posterior`` rule,
whose reviews (which may reopen answered items, even of a job that looked complete) run there too.

The runner fully consolidates a running job at most once a minute of wall-clock time. The simulator keeps
that cadence on a clock of its own, counted in answers (``answers_per_minute``, the crowd's pace), not on the
machine's clock: the rounds train on the consolidated labels, so a cadence tied to how fast this machine
happens to run made two runs with the same seed differ (on 10,000 tweets, 1.20 against 1.40 answers per
tweet for the same pool and target, the second run sharing the CPU with three others). Same seed, same
result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from groundswell.active import AutoLabelSettings
from groundswell.domain import JobState, WorkerKind
from groundswell.errors import InvalidInputError
from groundswell.jobs import Task, change_state, get_job, job_labels, job_quality, next_task, submit_answer
from groundswell.jobs.autolabel import human_judgment_count
from groundswell.jobs.consolidation import consolidate_job, request_consolidation
from groundswell.jobs.job_settings import consolidation_settings
from groundswell.runner import run_pending, single_threaded_blas
from groundswell.sim.pool import Pool
from groundswell.store.db import transaction
from groundswell.store.tables import ConsolidatedLabel, Item, JobItem, JobTeam, TeamMember, Worker

__all__ = ["ANSWERS_PER_MINUTE", "SimReport", "measure_job", "simulate_job"]

#: The simulated crowd's pace: 50 people at one tweet every 5 seconds. With the runner's once-a-minute full
#: consolidation it sets how many answers a job gets between two consolidations.
ANSWERS_PER_MINUTE = 600
#: Longer than any simulation: the runner's own wall-clock schedule never fires; the driver asks instead.
_NEVER = timedelta(days=36500)


@dataclass(frozen=True)
class SimReport:
    """The simulation's outcome; accuracies are against the items' gold labels (``None`` when undefined)."""

    items: int
    human_judgments: int
    judgments_per_item: float
    machine_labeled: int
    accuracy: float | None
    accuracy_human: float | None
    accuracy_machine: float | None
    accuracy_target: float | None
    labeled: int = 0
    #: The job's own estimate of its accuracy (``job show``'s), to compare with the measured one.
    estimated_accuracy: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report file's JSON object."""
        return asdict(self)


def _setup(session: Session, job_name: str, pool: Pool) -> tuple[str, list[Worker], dict[int, str]]:
    """Start the job if needed, create the simulated workers, and read every item's gold label."""
    job = get_job(session, job_name)
    if job.state is JobState.DRAFT:
        change_state(session, job.name, "start")
    labels = job_labels(session, job)
    if sorted(labels) != sorted(pool.labels):
        raise InvalidInputError(f"the pool's labels {pool.labels} are not the job's labels {labels}")
    workers = [
        Worker(email=None, display_name=f"sim:{job.name}:{w.id}"[:200], kind=WorkerKind.SIMULATED) for w in pool.workers
    ]
    session.add_all(workers)
    session.flush()
    for team_id in session.scalars(select(JobTeam.team_id).where(JobTeam.job_id == job.id)):
        session.add_all(TeamMember(team_id=team_id, worker_id=w.id) for w in workers)
    gold = dict(
        session.execute(
            select(Item.id, Item.gold_label).join(JobItem, JobItem.item_id == Item.id).where(JobItem.job_id == job.id)
        ).all()
    )
    missing = [item_id for item_id, label in gold.items() if label not in labels]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} item(s) of job {job.name} have no gold label among the job's labels "
            f"(first: item {missing[0]}); the simulator answers from gold labels"
        )
    return job.name, workers, {k: str(v) for k, v in gold.items()}


def simulate_job(
    factory: sessionmaker[Session],
    job_name: str,
    pool: Pool,
    *,
    random_state: int = 0,
    max_judgments: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    answers_per_minute: int = ANSWERS_PER_MINUTE,
) -> SimReport:
    """Answer ``job_name`` with ``pool`` until it is done (or out of budget), then measure it.

    Args:
        factory: Session factory of the store.
        job_name: A draft (started here), running or paused job whose items all have gold labels.
        pool: The simulated annotators.
        random_state: Seed for who answers next and what they answer.
        max_judgments: Stop after this many answers (on top of the job's own ``budget`` setting).
        on_progress: Called with the number of answers given so far, every 500 answers.
        answers_per_minute: The crowd's pace: the job is fully consolidated every this many answers, as the
            runner does once a minute.
    """
    if answers_per_minute < 1:
        raise InvalidInputError(f"answers_per_minute must be at least 1, not {answers_per_minute}")
    rng = np.random.default_rng(random_state)
    with transaction(factory) as session:
        # The workers stay loaded after the commit (the factory does not expire on commit): routing and submit
        # read only their id and kind, so each answer need not read its worker's row again.
        name, workers, gold = _setup(session, job_name, pool)
        job_settings = get_job(session, name).settings
        settings = AutoLabelSettings.from_mapping(job_settings)
        redundancy = consolidation_settings(job_settings)
    limit = min(x for x in (max_judgments, settings.budget, 2**62) if x is not None)
    # Rounds, and the posterior rule's reviews, happen in the runner: drain its queue as a runner would.
    background = settings.enabled or (redundancy.dynamic_redundancy and redundancy.rule != "vote")

    def drain() -> None:
        if background:
            run_pending(factory, every=_NEVER)

    drain()
    weights = pool.weights()
    given = 0
    stuck = np.zeros(len(workers), dtype=bool)
    progress_at_reset = -1
    while given < limit:
        if stuck.all():
            if given == progress_at_reset:
                break  # a full pass with the queue drained gave nobody a task: the job is finished
            progress_at_reset = given
            drain()
            stuck[:] = False
        p = np.where(stuck, 0.0, weights)
        w = int(rng.choice(len(workers), p=p / p.sum()))
        worker = workers[w]
        with transaction(factory) as session:
            task = next_task(session, name, worker)
            if isinstance(task, Task):
                label = pool.answer(w, gold[task.item_id], rng)
                submit_answer(session, worker, task.lease_id, label=label, idempotency_key=f"sim-{task.lease_id}")
        if not isinstance(task, Task):
            stuck[w] = True
            continue
        given += 1
        if background and given % answers_per_minute == 0:
            with transaction(factory) as session:
                request_consolidation(session, get_job(session, name))
            drain()
        elif background and given % settings.batch_size == 0:
            drain()
        if on_progress is not None and given % 500 == 0:
            on_progress(given)
    drain()
    with single_threaded_blas(), transaction(factory) as session:  # as the runner fits: see groundswell.runner
        consolidate_job(session, get_job(session, name))  # final labels from the job's consolidation model
    return measure_job(factory, name, accuracy_target=settings.accuracy_target if settings.enabled else None)


def measure_job(factory: sessionmaker[Session], job_name: str, *, accuracy_target: float | None = None) -> SimReport:
    """Cost and accuracy of a job's current labels against its items' gold labels (gold items left out)."""
    with factory() as session:
        job = get_job(session, job_name)
        items = int(
            session.scalar(select(func.count()).where(JobItem.job_id == job.id, JobItem.is_gold.is_(False))) or 0
        )
        rows = session.execute(
            select(ConsolidatedLabel.label, ConsolidatedLabel.human_annotated, Item.gold_label)
            .join(Item, Item.id == ConsolidatedLabel.item_id)
            .where(ConsolidatedLabel.job_id == job.id)
        ).all()
        judgments = human_judgment_count(session, job)
        estimate = job_quality(session, job).estimate

    def accuracy(selected: list[bool]) -> float | None:
        return float(np.mean(selected)) if selected else None

    right = [(label == gold, human) for label, human, gold in rows]
    machine = sum(1 for _, human in right if not human)
    return SimReport(
        items=items,
        human_judgments=judgments,
        judgments_per_item=judgments / items if items else 0.0,
        machine_labeled=machine,
        accuracy=accuracy([ok for ok, _ in right]),
        accuracy_human=accuracy([ok for ok, human in right if human]),
        accuracy_machine=accuracy([ok for ok, human in right if not human]),
        accuracy_target=accuracy_target,
        labeled=len(rows),
        estimated_accuracy=None if estimate is None else estimate.accuracy,
    )

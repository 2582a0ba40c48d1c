"""Running the queue: what each kind of work does, periodic scheduling, and the runner's loop.

:func:`run_pending` is the whole runner in one call (tests and ``groundswell runner --once`` use it): it
schedules what is due, then claims and runs rows until none is due. :func:`run_forever` repeats it.

Scheduling of consolidation (:func:`schedule_consolidations`): a job gets a full consolidation when its
labels changed since the last one (per-submit votes newer than that run's snapshot, or judgments and no
run yet) and either it has ended (completed or stopped: labels are final, so at once) or the last run is
older than ``every``. So a busy job is refitted at most once per ``every``, an idle one never.

Scheduling of automated labeling (``jobs.autolabel.schedule_auto_label_rounds``): a round as soon as an
auto-labeling job runs, then one each time its human-labeled items grew by ``batch_size`` or by 10 % of those
the last round used, whichever is more (each round retrains on all of them).

Scheduling of dynamic-redundancy reviews (``jobs.redundancy.schedule_redundancy_reviews``): for jobs under
the ``posterior`` rule, a review whenever answers arrived since the last one.

Scheduling of model-loop retrains (``train.loop.schedule_retrains``): for jobs with a model loop, a retrain
each time their final human labels grew by the loop's ``every`` since the last candidate.

The three built-in handlers are staged (``runner.staged``): each reads what it needs in a short read-only
transaction, computes (trains, fits, chooses) with no transaction open, then writes its results in a short
transaction together with marking the row done, so a crash never leaves half-written labels behind a "done"
row, and on SQLite the web app's requests no longer wait behind a round or a fit for the write lock. A plain
handler (a callable) still runs whole in one transaction. While a row runs, a thread refreshes its heartbeat
(see ``runner.queue``), so other runners leave it alone until the runner dies; then the next runner to look
takes it over and runs it again from the start, the dead attempt's writes never committed.

Handlers run with single-threaded BLAS (:func:`single_threaded_blas`). Their numerical work calls BLAS on
single vectors: a round's SGD logistic regressions update their weight vector through BLAS for every training
item, and scikit-learn's L-BFGS-B fits (SciPy's, rewritten in C in 1.15) work on one vector per model weight.
OpenBLAS threads only add synchronisation there, and spin against each other on a small machine that serves
the web app or runs a simulation too. Measured on 2 cores: a round's SGD fit plus predictions on 10,000 of
45,615 tweets, 1.04 s with OpenBLAS's default threads and 0.82 s with one (quiet machine); an L-BFGS-B fit on
4,000 labels, 16 s of CPU (22 s wall) and 3.6 s (4.6 s) under load, for the same model (scipy/scipy#22438,
#23161; OpenMathLib/OpenBLAS#5383).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from groundswell.domain import JobState, WorkState
from groundswell.errors import GroundswellError
from groundswell.jobs import autolabel, consolidation, redundancy
from groundswell.jobs.autolabel import AUTO_LABEL_WORK, schedule_auto_label_rounds
from groundswell.jobs.consolidation import CONSOLIDATE_WORK
from groundswell.jobs.redundancy import REVIEW_WORK, schedule_redundancy_reviews
from groundswell.runner.queue import (
    STALE_AFTER,
    WorkOutcome,
    claim,
    enqueue,
    heartbeat,
    heartbeat_every,
    mark_done,
    mark_failed,
)
from groundswell.runner.staged import LostClaim, Staged, requeue, run_staged
from groundswell.store.db import transaction
from groundswell.store.queue import StaleWork
from groundswell.store.tables import ConsolidatedLabel, Job, Judgment, Work, utcnow
from groundswell.train import background
from groundswell.train import loop as model_loop
from groundswell.train.background import TRAIN_WORK
from groundswell.train.loop import RETRAIN_WORK

__all__ = [
    "DEFAULT_EVERY",
    "HANDLERS",
    "Handler",
    "default_runner_id",
    "make_handlers",
    "queue_counts",
    "run_forever",
    "run_one",
    "run_pending",
    "schedule_consolidations",
    "single_threaded_blas",
]

log = logging.getLogger(__name__)

#: (Session, claimed row) → JSON-ready result stored on the row, run in one transaction; or a staged handler.
Handler = Callable[[Session, Work], dict[str, Any]] | Staged
#: How often a running job with new answers is refitted.
DEFAULT_EVERY = timedelta(seconds=60)


def _job_of(session: Session, work: Work) -> Job:
    job = session.get(Job, work.job_id) if work.job_id is not None else None
    if job is None:
        raise GroundswellError(f"work {work.id}: its job no longer exists")
    return job


def _consolidate() -> Staged:
    return Staged(
        read=lambda session, work: consolidation.read_consolidation(
            session, _job_of(session, work), method=work.payload.get("method")
        ),
        compute=consolidation.compute_consolidation,
        write=lambda session, work, fitted: consolidation.write_consolidation(
            session, _job_of(session, work), fitted
        ).as_dict(),
    )


def _auto_label_in(artifact_dir: Path | None) -> Staged:
    return Staged(
        read=lambda session, work: autolabel.read_round(
            session,
            _job_of(session, work),
            random_state=int(work.payload.get("random_state", 0)),
            artifact_dir=artifact_dir,
        ),
        compute=autolabel.compute_round,
        write=lambda session, work, computed: autolabel.write_round(session, _job_of(session, work), computed),
    )


def _retrain_in(artifact_dir: Path | None) -> Staged:
    return Staged(
        read=lambda session, work: model_loop.read_retrain(session, _job_of(session, work).id, artifact_dir),
        compute=model_loop.compute_retrain,
        write=lambda session, work, computed: model_loop.write_retrain(session, computed).as_dict(),
    )


def _review() -> Staged:
    return Staged(
        read=lambda session, work: redundancy.read_review(session, _job_of(session, work)),
        compute=redundancy.compute_review,
        write=lambda session, work, chosen: redundancy.write_review(session, _job_of(session, work), chosen),
    )


def make_handlers(*, artifact_dir: Path | None = None) -> dict[str, Handler]:
    """What each ``work.kind`` runs. With ``artifact_dir`` (``groundswell runner`` and ``serve --runner`` pass
    ``<data_dir>/models``), each automated-labeling round saves its model there as a skops artifact."""
    return {
        CONSOLIDATE_WORK: _consolidate(),
        AUTO_LABEL_WORK: _auto_label_in(artifact_dir),
        REVIEW_WORK: _review(),
        RETRAIN_WORK: _retrain_in(artifact_dir),
        TRAIN_WORK: Staged(
            read=lambda session, work: background.read_training(session, work, artifact_dir),
            compute=background.compute_training,
            write=background.write_training,
        ),
    }


#: The handlers without an artifact folder (round models are not kept). Later features add their kinds here.
HANDLERS: dict[str, Handler] = make_handlers()


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limits: Any = None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with every loaded BLAS (NumPy's and SciPy's OpenBLAS) limited to one thread (module
    docstring says why).

    The limit is process-wide: runner threads of one process share it, the first one in sets it and the last
    one out restores the libraries' own settings.
    """
    global _blas_users, _blas_limits
    with _blas_lock:
        if _blas_users == 0:
            import scipy.linalg  # noqa: F401  (loads SciPy's own OpenBLAS, so the limit reaches it too)
            from threadpoolctl import threadpool_limits

            _blas_limits = threadpool_limits(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limits is not None:
                _blas_limits.restore_original_limits()
                _blas_limits = None


def default_runner_id() -> str:
    """``host:pid``, so a claimed row says which process holds it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _last_snapshot(session: Session, job_id: int) -> datetime | None:
    result = session.scalar(
        select(Work.result)
        .where(Work.kind == CONSOLIDATE_WORK, Work.job_id == job_id, Work.state == WorkState.DONE)
        .order_by(Work.finished_at.desc(), Work.id.desc())
        .limit(1)
    )
    if not result or "snapshot" not in result:
        return None
    return datetime.fromisoformat(result["snapshot"])


def schedule_consolidations(session: Session, *, every: timedelta = DEFAULT_EVERY, now: datetime | None = None) -> int:
    """Queue a full consolidation for every job that needs one (module docstring); returns how many."""
    now = now or utcnow()
    pending = (
        select(Work.job_id)
        .where(Work.kind == CONSOLIDATE_WORK, Work.state.in_([WorkState.QUEUED, WorkState.RUNNING]))
        .scalar_subquery()
    )
    ended = (JobState.COMPLETED, JobState.STOPPED)
    candidates = session.execute(
        select(Job.id, Job.state).where(Job.state != JobState.DRAFT, Job.id.not_in(pending)).order_by(Job.id)
    ).all()
    queued = 0
    for job_id, job_state in candidates:
        last = _last_snapshot(session, job_id)
        if last is None:
            changed = session.scalar(select(exists().where(Judgment.job_id == job_id)))
        else:
            if job_state not in ended and now - last < every:
                continue
            changed = session.scalar(
                select(
                    exists().where(
                        ConsolidatedLabel.job_id == job_id,
                        ConsolidatedLabel.human_annotated,
                        ConsolidatedLabel.updated_at > last,
                    )
                )
            )
        if changed:
            enqueue(session, CONSOLIDATE_WORK, job_id=job_id, run_after=now)
            queued += 1
    return queued


@contextmanager
def _heartbeats(
    factory: sessionmaker[Session], work_id: int, runner_id: str, every: float, *, staged: bool
) -> Iterator[None]:
    """Refresh the heartbeat of the claimed row every ``every`` seconds while the block runs, from a thread with
    its own connection. On SQLite only for a staged handler: a plain one holds the one write lock throughout
    (so no other runner can claim the row anyway), and a heartbeat would only wait for it."""
    bind = factory.kw.get("bind")
    if not staged and isinstance(bind, Engine) and bind.dialect.name == "sqlite":
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                with transaction(factory) as session:
                    if not heartbeat(session, work_id, runner_id):
                        return
            except Exception:  # a database hiccup: the next beat tries again, before the row looks abandoned
                log.warning("work %s: could not refresh its heartbeat", work_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"heartbeat-{work_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_one(
    factory: sessionmaker[Session],
    runner_id: str,
    *,
    handlers: Mapping[str, Handler] | None = None,
    now: datetime | None = None,
    stale_after: timedelta = STALE_AFTER,
) -> WorkOutcome | None:
    """Claim one due row (or one whose runner stopped beating ``stale_after`` ago) and run it, beating its
    heartbeat meanwhile; ``None`` when nothing is due."""
    handlers = HANDLERS if handlers is None else handlers
    with transaction(factory) as session:
        work = claim(session, runner_id, kinds=frozenset(handlers), now=now, stale_after=stale_after)
        if work is None:
            return None
        work_id, kind, job_id = work.id, work.kind, work.job_id
    handler = handlers[kind]
    staged = isinstance(handler, Staged)
    try:
        with (
            single_threaded_blas(),
            _heartbeats(factory, work_id, runner_id, heartbeat_every(stale_after), staged=staged),
        ):
            if isinstance(handler, Staged):
                result = run_staged(factory, handler, work_id, runner_id)
            else:
                with transaction(factory) as session:
                    work = session.get(Work, work_id)
                    assert work is not None
                    result = handler(session, work)
                    mark_done(session, work, result)
        log.info("work %s (%s, job %s) done: %s", work_id, kind, job_id, result)
        return WorkOutcome(work_id, kind, job_id, WorkState.DONE, result=result)
    except LostClaim as exc:  # another runner took the row over: its attempt counts, this one's results go
        log.warning("work %s (%s, job %s): %s", work_id, kind, job_id, exc)
        return WorkOutcome(work_id, kind, job_id, WorkState.RUNNING, error=str(exc))
    except StaleWork as exc:  # what it read changed while it computed: again at once, on fresh data
        with transaction(factory) as session:
            state = requeue(session, work_id, f"stale: {exc}")
        log.info("work %s (%s, job %s) queued again: %s", work_id, kind, job_id, exc)
        return WorkOutcome(work_id, kind, job_id, state, error=f"stale: {exc}")
    except Exception as exc:  # any failure is recorded on the row; the runner itself carries on
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
        with transaction(factory) as session:
            state = mark_failed(session, work_id, error, retry=not isinstance(exc, GroundswellError))
        log.warning("work %s (%s, job %s) %s: %s", work_id, kind, job_id, state.value, exc)
        return WorkOutcome(work_id, kind, job_id, state, error=error)


def run_pending(
    factory: sessionmaker[Session],
    *,
    runner_id: str | None = None,
    handlers: Mapping[str, Handler] | None = None,
    schedule: bool = True,
    every: timedelta = DEFAULT_EVERY,
    now: datetime | None = None,
    limit: int | None = None,
    stale_after: timedelta = STALE_AFTER,
) -> list[WorkOutcome]:
    """Schedule what is due, then run due rows until none is left (or ``limit`` ran); returns the outcomes.

    Args:
        factory: Session factory of the store.
        runner_id: Name recorded on claimed rows; default ``host:pid``.
        handlers: Kind → handler; default :data:`HANDLERS`. Rows of other kinds are left for other runners.
        schedule: Run :func:`schedule_consolidations` first.
        every: Minimum interval between full consolidations of a running job.
        now: The time to act at (tests move it forward).
        limit: Stop after this many rows.
        stale_after: How long a running row may go without a heartbeat before it is taken for abandoned
            (every runner on the database must use the same value; see ``runner.queue``).
    """
    runner_id = runner_id or default_runner_id()
    if schedule:
        with transaction(factory) as session:
            schedule_consolidations(session, every=every, now=now)
            schedule_auto_label_rounds(session, now=now)
            schedule_redundancy_reviews(session, now=now)
            model_loop.schedule_retrains(session, now=now)
    outcomes: list[WorkOutcome] = []
    while limit is None or len(outcomes) < limit:
        outcome = run_one(factory, runner_id, handlers=handlers, now=now, stale_after=stale_after)
        if outcome is None:
            break
        outcomes.append(outcome)
    return outcomes


def run_forever(
    factory: sessionmaker[Session],
    *,
    runner_id: str | None = None,
    poll: float = 5.0,
    every: timedelta = DEFAULT_EVERY,
    stop: threading.Event | None = None,
    on_outcome: Callable[[WorkOutcome], None] | None = None,
    handlers: Mapping[str, Handler] | None = None,
    stale_after: timedelta = STALE_AFTER,
) -> None:
    """Run the queue until ``stop`` is set, sleeping ``poll`` seconds whenever nothing is due."""
    stop = stop or threading.Event()
    runner_id = runner_id or default_runner_id()
    while not stop.is_set():
        try:
            outcomes = run_pending(
                factory, runner_id=runner_id, every=every, handlers=handlers, stale_after=stale_after
            )
        except Exception:  # a database hiccup must not end the runner; log and try again after the pause
            log.exception("runner %s: could not read the queue", runner_id)
            outcomes = []
        for outcome in outcomes:
            if on_outcome is not None:
                on_outcome(outcome)
        if not outcomes:
            stop.wait(poll)


def queue_counts(session: Session) -> dict[str, int]:
    """Rows per state, for the runner's status line."""
    rows = session.execute(select(Work.state, func.count()).group_by(Work.state)).all()
    return {WorkState(state).value: int(count) for state, count in rows}

"""Background work: a database-backed queue (the ``work`` table) and the runner that drains it.

Use cases enqueue rows (``jobs.consolidation.request_consolidation`` at job end, or :func:`enqueue`); the
runner also schedules periodic full consolidations of jobs with new answers. ``groundswell runner`` runs
:func:`run_forever`; tests call :func:`run_pending`. Any number of runners may share one PostgreSQL
database (rows are claimed with ``FOR UPDATE SKIP LOCKED``); on SQLite they take turns.
"""

from groundswell.runner.loop import (
    DEFAULT_EVERY,
    HANDLERS,
    Handler,
    default_runner_id,
    make_handlers,
    queue_counts,
    run_forever,
    run_one,
    run_pending,
    schedule_consolidations,
    single_threaded_blas,
)
from groundswell.runner.queue import (
    MAX_ATTEMPTS,
    STALE_AFTER,
    WorkOutcome,
    claim,
    enqueue,
    heartbeat,
    heartbeat_every,
    mark_done,
    mark_failed,
)

__all__ = [
    "DEFAULT_EVERY",
    "HANDLERS",
    "MAX_ATTEMPTS",
    "STALE_AFTER",
    "Handler",
    "WorkOutcome",
    "claim",
    "default_runner_id",
    "enqueue",
    "heartbeat",
    "heartbeat_every",
    "make_handlers",
    "mark_done",
    "mark_failed",
    "queue_counts",
    "run_forever",
    "run_one",
    "run_pending",
    "schedule_consolidations",
    "single_threaded_blas",
]

"""Handlers in three steps, so that a long computation holds no transaction: read, compute, write.

Why: on SQLite every write transaction begins ``IMMEDIATE`` and holds the one write lock from its first
statement. A handler run inside one transaction (train a round's model on 10,000 tweets, fit Dawid–Skene)
made every web request (an annotator's next task or answer, an admin page) wait behind it for seconds, or
give up with a 503. A :class:`Staged` handler instead

1. reads what it needs in a short read-only transaction (``store.db.read_transaction``: ``BEGIN DEFERRED`` on
   SQLite, no write lock; one ``REPEATABLE READ`` snapshot on PostgreSQL),
2. computes with no transaction open,
3. writes in a short write transaction, together with marking its row done, after checking that this runner
   still holds the row (:class:`LostClaim` otherwise) and that what it computed still holds: each handler's
   ``write`` re-checks what it relies on and applies what is still valid, or raises
   ``store.queue.StaleWork`` to have the row queued again at once, to run on fresh data.

Exactly once in effect, as before: nothing is written before step 3, and step 3 commits the results with the
row marked done, so a runner killed anywhere leaves nothing behind and the row is taken over and run again.
While steps 1–2 run, the runner's heartbeat thread keeps the row fresh on SQLite too (no transaction of the
handler is open for it to wait on).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from groundswell.domain import WorkState
from groundswell.store.db import read_transaction, transaction
from groundswell.store.tables import Work, utcnow

__all__ = ["LostClaim", "Staged", "requeue", "run_staged"]


@dataclass(frozen=True)
class Staged:
    """A handler in three steps (module docstring).

    Attributes:
        read: (read-only session, claimed row) → the plan: plain data, no ORM object the compute step would
            lazy-load through the closed session.
        compute: plan → what to write; runs with no transaction open.
        write: (write session, claimed row, what to write) → the JSON-ready result stored on the row.
    """

    read: Callable[[Session, Work], Any]
    compute: Callable[[Any], Any]
    write: Callable[[Session, Work, Any], dict[str, Any]]

    def __call__(self, session: Session, work: Work) -> dict[str, Any]:
        """All three steps in one transaction: for callers that hold one already."""
        return self.write(session, work, self.compute(self.read(session, work)))


class LostClaim(Exception):
    """The row was taken over (or finished) by another runner while this one computed: its results go."""


def run_staged(factory: sessionmaker[Session], staged: Staged, work_id: int, runner_id: str) -> dict[str, Any]:
    """Run ``staged`` for the claimed row ``work_id``: read, compute, then write and mark the row done."""
    with read_transaction(factory) as session:
        work = session.get(Work, work_id)
        assert work is not None
        attempt = work.attempts
        plan = staged.read(session, work)
    computed = staged.compute(plan)
    with transaction(factory) as session:
        work = session.get(Work, work_id)
        if not _held(work, runner_id, attempt):
            raise LostClaim(_lost(work_id, work))
        assert work is not None
        result = staged.write(session, work, computed)
        # Marked done only while still held, checked in the same statement. The row is not locked before:
        # the heartbeat thread keeps updating it while the writes run (PostgreSQL), and must not wait for them.
        done = session.execute(
            update(Work)
            .where(
                Work.id == work_id,
                Work.state == WorkState.RUNNING,
                Work.claimed_by == runner_id[:200],
                Work.attempts == attempt,
            )
            .values(state=WorkState.DONE, result=result, error=None, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if getattr(done, "rowcount", 0) != 1:
            session.expire_all()
            raise LostClaim(_lost(work_id, session.get(Work, work_id)))
    return result


def _held(work: Work | None, runner_id: str, attempt: int) -> bool:
    return (
        work is not None
        and work.state is WorkState.RUNNING
        and work.claimed_by == runner_id[:200]
        and work.attempts == attempt
    )


def _lost(work_id: int, work: Work | None) -> str:
    held = "deleted" if work is None else f"{work.state.value}, held by {work.claimed_by}"
    return f"work {work_id} is no longer this runner's ({held})"


def requeue(session: Session, work_id: int, reason: str) -> WorkState:
    """Queue the row again at once, without counting the attempt: what it read changed while it computed
    (``store.queue.StaleWork``), which is no failure of the work itself."""
    work = session.get(Work, work_id, with_for_update=True)
    if work is None:
        return WorkState.FAILED
    work.state = WorkState.QUEUED
    work.run_after = utcnow()
    work.error = reason[:10_000]
    work.attempts = max(0, work.attempts - 1)
    return work.state

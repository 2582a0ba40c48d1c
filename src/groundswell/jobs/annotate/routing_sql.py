"""The annotator hot path's SQL: fixed statements run on the driver connection (:mod:`groundswell.store.driver`).

Why: every answer costs a submit and a next task. Through the ORM that was about twenty statements, each
built anew per call, and building and executing them cost several times the database's own work. Here each
request runs a handful of statements written once, and reads fold what used to be separate lookups (the
job with its labels and team access; a lease with its item row, locked; a new task with its tweet).

Column names are the ones in :mod:`groundswell.store.tables`; tests run every path on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from groundswell.domain import JobState
from groundswell.store.driver import Driver, Sql
from groundswell.store.tables import ADJUDICATED

__all__ = ["ItemCounts", "JobRow", "counts_write", "job_from_row", "job_query", "lock_item_of_lease"]


@dataclass(frozen=True)
class JobRow:
    """What routing needs of a job, read in one statement together with its labels and team access."""

    id: int
    name: str
    state: JobState
    started_at: datetime | None
    task_availability_s: int
    task_time_limit_s: int
    max_concurrent_tasks: int | None
    workers_per_item: int
    max_workers_per_item: int
    settings: dict[str, Any]
    labels: tuple[str, ...]
    #: The job is open only to some teams, and whether the calling worker is on one of them.
    restricted: bool
    member: bool


@dataclass
class ItemCounts:
    """An item's routing counters, read with its row locked; written back as one UPDATE."""

    job_id: int
    item_id: int
    judgments_wanted: int
    judgments_accepted: int
    leases_active: int
    is_gold: bool
    is_done: bool


_JOB = """
    SELECT j.id, j.name, j.state, j.started_at, j.task_availability_s, j.task_time_limit_s, j.max_concurrent_tasks,
           j.workers_per_item, j.max_workers_per_item, j.settings, s.labels,
           EXISTS (SELECT 1 FROM job_teams t WHERE t.job_id = j.id),
           EXISTS (SELECT 1 FROM job_teams t JOIN team_members m ON m.team_id = t.team_id
                   WHERE t.job_id = j.id AND m.worker_id = :worker_id)
    FROM jobs j JOIN label_schemas s ON s.id = j.label_schema_id
"""
JOB_BY_NAME = Sql(_JOB + " WHERE j.name_key = :name_key")
JOB_BY_ID = Sql(_JOB + " WHERE j.id = :job_id")
JOB_BY_LEASE = Sql(_JOB + " WHERE j.id = (SELECT job_id FROM task_leases WHERE id = :lease_id)")


def job_query(*, worker_id: int, name: str | None = None, job_id: int | None = None) -> tuple[Sql, dict[str, Any]]:
    """The statement reading a job (by name or id) as :class:`JobRow` columns, for ``Driver.one`` or a batch."""
    if name is not None:
        return JOB_BY_NAME, {"name_key": name.lower(), "worker_id": worker_id}
    return JOB_BY_ID, {"job_id": job_id, "worker_id": worker_id}


def job_from_row(db: Driver, row: tuple[Any, ...] | None) -> JobRow | None:
    if row is None:
        return None
    (id_, name_, state, started, availability, limit, concurrent, per_item, max_per_item, settings, labels, r, m) = row
    return JobRow(
        id=id_,
        name=name_,
        state=JobState(state),
        started_at=db.read_time(started),
        task_availability_s=availability,
        task_time_limit_s=limit,
        max_concurrent_tasks=concurrent,
        workers_per_item=per_item,
        max_workers_per_item=max_per_item,
        settings=dict(db.read_json(settings) or {}),
        labels=tuple(str(label) for label in db.read_json(labels)),
        restricted=bool(r),
        member=bool(m),
    )


# --- next task -------------------------------------------------------------------------------------------------

#: The task on screen, one prefetched (so the next tweet shows the instant a key is pressed) and one whose
#: answer is still on its way to the server.
MAX_HELD_LEASES = 3
#: Whether any lease of the job is past its time limit (then next-task sweeps them first).
STALE_LEASE = "EXISTS (SELECT 1 FROM task_leases WHERE job_id = :job_id AND state = 'active' AND expires_at < :now)"
#: The caller's live leases in the job, each with its tweet.
HELD_LEASES = """SELECT l.id, l.item_id, l.leased_at, l.expires_at, i.external_id, i.text
               FROM task_leases l JOIN items i ON i.id = l.item_id
               WHERE l.job_id = :job_id AND l.worker_id = :worker_id AND l.state = 'active'"""
#: :data:`STALE_LEASE`, then :data:`HELD_LEASES` oldest first: always one row, its lease columns NULL when the
#: caller holds none.
NEXT_READS = Sql(f"""
    SELECT s.stale, h.id, h.item_id, h.leased_at, h.expires_at, h.external_id, h.text
    FROM (SELECT {STALE_LEASE} AS stale) s
    LEFT JOIN ({HELD_LEASES}) h ON 1 = 1
    ORDER BY h.leased_at, h.id
""")


def held_leases(rows: list[tuple[Any, ...]]) -> tuple[bool, list[tuple[Any, ...]]]:
    """``NEXT_READS``' rows as (any stale lease in the job, the caller's held leases)."""
    return bool(rows[0][0]), [row[1:] for row in rows if row[1] is not None]


IN_FLIGHT_ITEMS = Sql("SELECT count(*) FROM job_items WHERE job_id = :job_id AND is_done = false AND started = true")
#: How many started items, at most, next-task looks through for one the caller has not touched yet.
STARTED_WINDOW = 200
_UNTOUCHED = """NOT EXISTS (SELECT 1 FROM task_leases l
                   WHERE l.job_id = ji.job_id AND l.worker_id = :worker_id AND l.item_id = ji.item_id
                     AND l.state IN ('active', 'submitted', 'declined'))"""
_FREE = "ji.is_done = false AND ji.judgments_accepted + ji.leases_active < ji.judgments_wanted"
# An open item the caller has not held, answered or skipped: one already started if any (the first
# STARTED_WINDOW of them by priority), else the fresh one with the highest priority (then in dataset order).
# Why the window: a started item the caller answered stays in the started set until others finish it, so an
# annotator working ahead of the rest (alone, say) would otherwise walk past all of their own answers on
# every request. Each part reads rows lazily and stops at its first pick; rows another transaction has locked
# are passed over; the free-slot test is repeated on the locked row, as PostgreSQL re-checks it there.
_PICK_STARTED = f"""
    SELECT * FROM (
        SELECT ji.item_id, i.external_id, i.text
        FROM (SELECT item_id FROM job_items
              WHERE job_id = :job_id AND is_done = false AND started = true
                AND judgments_accepted + leases_active < judgments_wanted
              ORDER BY priority DESC, item_id LIMIT {STARTED_WINDOW}) w
        JOIN job_items ji ON ji.job_id = :job_id AND ji.item_id = w.item_id
        JOIN items i ON i.id = ji.item_id
        WHERE {_FREE} AND {_UNTOUCHED}
        LIMIT 1 {{lock}}
    ) started_item
"""
_PICK_FRESH = f"""
    SELECT * FROM (
        SELECT ji.item_id, i.external_id, i.text
        FROM job_items ji JOIN items i ON i.id = ji.item_id
        WHERE ji.job_id = :job_id AND ji.started = false AND {_FREE} AND {_UNTOUCHED}
        ORDER BY ji.priority DESC, ji.item_id
        LIMIT 1 {{lock}}
    ) fresh_item
"""
_PICK = f"SELECT * FROM ({_PICK_STARTED} UNION ALL {_PICK_FRESH}) picks LIMIT 1"
_SKIP_LOCKED = "FOR UPDATE OF ji SKIP LOCKED"
PICK_ITEM = Sql(_PICK, lock=_SKIP_LOCKED)
#: Under the job's ``max_concurrent_tasks``, once that many items are in flight: started items only.
PICK_STARTED_ITEM = Sql(_PICK_STARTED, lock=_SKIP_LOCKED)
INSERT_LEASE = Sql("""
    INSERT INTO task_leases (job_id, item_id, worker_id, state, leased_at, expires_at)
    VALUES (:job_id, :item_id, :worker_id, 'active', :leased_at, :expires_at)
    RETURNING id
""")
CLAIM_SLOT = Sql("""
    UPDATE job_items SET leases_active = leases_active + 1, started = true
    WHERE job_id = :job_id AND item_id = :item_id
""")


def _pick_and_lease(pick: str) -> Sql:
    """PostgreSQL: pick, lease and claim in one statement (data-modifying CTEs), one round trip instead of two.

    The picked row is locked by the CTE, so the claim's UPDATE of it cannot race another transaction.
    """
    return Sql(
        f"""
        WITH picked AS ({pick}),
        lease AS (
            INSERT INTO task_leases (job_id, item_id, worker_id, state, leased_at, expires_at)
            SELECT :job_id, item_id, :worker_id, 'active', :leased_at, :expires_at FROM picked
            RETURNING id, item_id
        ),
        claim AS (
            UPDATE job_items SET leases_active = leases_active + 1, started = true
            WHERE job_id = :job_id AND item_id = (SELECT item_id FROM picked)
        )
        SELECT lease.id, picked.item_id, picked.external_id, picked.text FROM lease JOIN picked USING (item_id)
        """,
        lock=_SKIP_LOCKED,
    )


_PICK_AND_LEASE = {PICK_ITEM: _pick_and_lease(_PICK), PICK_STARTED_ITEM: _pick_and_lease(_PICK_STARTED)}
#: The common case's pick, lease and claim (``groundswell_next_task`` runs this very statement).
PICK_AND_LEASE = _PICK_AND_LEASE[PICK_ITEM]


def pick_and_lease(db: Driver, pick: Sql, params: dict[str, Any]) -> tuple[int, int, str, str] | None:
    """Lease the item ``pick`` chooses: ``(lease id, item id, external id, text)``, or None when none is left.

    ``params`` carries ``job_id``, ``worker_id``, ``leased_at`` and ``expires_at`` (as ``Driver.time`` gives).
    """
    if not db.is_sqlite:
        row = db.one(_PICK_AND_LEASE[pick], params)
        return None if row is None else (row[0], row[1], row[2], row[3])
    picked = db.one(pick, params)
    if picked is None:
        return None
    item_id, external_id, text = picked
    lease, _ = db.batch(
        (INSERT_LEASE, {**params, "item_id": item_id}),
        (CLAIM_SLOT, {"job_id": params["job_id"], "item_id": item_id}),
    )
    return lease[0][0], item_id, external_id, text


# --- submit and decline --------------------------------------------------------------------------------------

#: The lease's item row, locked, with the lease's owner (job, item and worker of a lease never change).
LOCK_ITEM_OF_LEASE = Sql(
    """
    SELECT ji.job_id, ji.item_id, ji.judgments_wanted, ji.judgments_accepted, ji.leases_active, ji.is_gold,
           ji.is_done, l.worker_id
    FROM task_leases l JOIN job_items ji ON ji.job_id = l.job_id AND ji.item_id = l.item_id
    WHERE l.id = :lease_id
    """,
    lock="FOR UPDATE OF ji",
)
#: Read after the item's row is locked: every change of a lease's state happens under that lock.
LEASE_STATE = Sql("""
    SELECT l.state, l.leased_at,
           (SELECT max(j.revision) FROM judgments j
            WHERE j.job_id = l.job_id AND j.item_id = l.item_id AND j.worker_id = l.worker_id)
    FROM task_leases l WHERE l.id = :lease_id
""")
INSERT_JUDGMENT = Sql("""
    INSERT INTO judgments (job_id, item_id, worker_id, lease_id, label, revision, idempotency_key, time_spent_s,
                           accepted_at, submitted_at, iteration)
    VALUES (:job_id, :item_id, :worker_id, :lease_id, :label, :revision, :idempotency_key, :time_spent_s,
            :accepted_at, :submitted_at, 0)
    RETURNING id
""")
CLOSE_LEASE = Sql("UPDATE task_leases SET state = :state, closed_at = :closed_at WHERE id = :lease_id")
_WRITE_COUNTS = Sql("""
    UPDATE job_items SET judgments_wanted = :wanted, judgments_accepted = :accepted, leases_active = :leases,
                         is_done = :done
    WHERE job_id = :job_id AND item_id = :item_id
""")
#: Whether the job has an item not done yet: asked by every answer that finishes an item.
#: Why this shape: a plain ``... WHERE job_id = :job_id AND is_done = false LIMIT 1`` is planned on PostgreSQL
#: as a sequential scan that stops at its first match (the planner takes open items to be spread evenly), but
#: items are finished roughly in the order they were started, which is the order of the table, so that scan
#: read every finished item first: its cost grew with the job's progress (the soak's falling answer rate).
#: Here each part reads the routing index backwards, from its most recently started item (still in flight)
#: and from its last fresh item (the last to be started); finished items, and their index entries left
#: behind until a vacuum, lie at the other end. The ORDER BY is what makes the index the plan (it is
#: the index's order, backwards); the set of rows asked about, and so the answer, is the same.
_OPEN_ITEM = """SELECT 1 FROM job_items WHERE job_id = :job_id AND is_done = false AND started = {started}
               ORDER BY priority, item_id DESC LIMIT 1"""
ANY_OPEN_ITEM = Sql(
    f"SELECT 1 FROM ({_OPEN_ITEM.format(started='true')}) in_flight"
    f" UNION ALL SELECT 1 FROM ({_OPEN_ITEM.format(started='false')}) fresh LIMIT 1"
)


def lock_item_of_lease(db: Driver, lease_id: int) -> tuple[ItemCounts, int] | None:
    """The lease's item counters (row locked) and the lease's worker; None when there is no such lease."""
    return item_of_lease(db.one(LOCK_ITEM_OF_LEASE, {"lease_id": lease_id}))


def item_of_lease(row: tuple[Any, ...] | None) -> tuple[ItemCounts, int] | None:
    """``LOCK_ITEM_OF_LEASE``'s row as the item's counters and the lease's worker."""
    if row is None:
        return None
    job_id, item_id, wanted, accepted, leases, is_gold, is_done, worker_id = row
    counts = ItemCounts(job_id, item_id, wanted, accepted, leases, bool(is_gold), bool(is_done))
    return counts, worker_id


def counts_write(counts: ItemCounts) -> tuple[Sql, dict[str, Any]]:
    """The UPDATE that stores ``counts``, for ``Driver.run`` or a batch."""
    return _WRITE_COUNTS, {
        "job_id": counts.job_id,
        "item_id": counts.item_id,
        "wanted": counts.judgments_wanted,
        "accepted": counts.judgments_accepted,
        "leases": counts.leases_active,
        "done": counts.is_done,
    }


# --- per-submit majority vote ---------------------------------------------------------------------------------

#: Every answer row (worker, label; withdrawals have none) of a lease's item, by worker and revision: read with
#: submit's other reads, before it knows the item.
LEASE_ITEM_ANSWERS = Sql("""
    SELECT j.worker_id, j.label
    FROM task_leases l JOIN judgments j ON j.job_id = l.job_id AND j.item_id = l.item_id
    WHERE l.id = :lease_id
    ORDER BY j.worker_id, j.revision
""")
#: PostgreSQL: ``LEASE_STATE``, the job (``JOB_BY_LEASE``'s columns) and ``LEASE_ITEM_ANSWERS`` in one statement.
_PG_SUBMIT_READS = Sql(
    """
    SELECT l.state, l.leased_at,
           (SELECT max(a.revision) FROM judgments a
            WHERE a.job_id = l.job_id AND a.item_id = l.item_id AND a.worker_id = l.worker_id),
           (SELECT json_agg(json_build_array(a.worker_id, a.label) ORDER BY a.worker_id, a.revision)
            FROM judgments a WHERE a.job_id = l.job_id AND a.item_id = l.item_id),
           job.*
    FROM task_leases l, ("""
    + _JOB
    + """ WHERE j.id = (SELECT job_id FROM task_leases WHERE id = :lease_id)) job
    WHERE l.id = :lease_id
    """
)


def submit_reads(
    db: Driver, lease_id: int, worker_id: int
) -> tuple[tuple[ItemCounts, int] | None, tuple[Any, ...], tuple[Any, ...], list[tuple[Any, ...]]]:
    """What submit reads: the lease's item row, locked, with the lease's worker (None: no such lease); then,
    the lock held (every change of a lease's state happens under it), the lease's state, leased time and
    the worker's last revision on the item; the job's ``JobRow`` columns; the item's answers so far.

    One round trip; on PostgreSQL two statements, on SQLite four.
    """
    lease = {"lease_id": lease_id}
    if db.is_sqlite:
        lock_rows, state_rows, job_rows, answers = db.batch(
            (LOCK_ITEM_OF_LEASE, lease),
            (LEASE_STATE, lease),
            (JOB_BY_LEASE, {**lease, "worker_id": worker_id}),
            (LEASE_ITEM_ANSWERS, lease),
        )
        locked = item_of_lease(lock_rows[0] if lock_rows else None)
        return locked, (state_rows or [()])[0], (job_rows or [()])[0], answers
    lock_rows, rows = db.batch((LOCK_ITEM_OF_LEASE, lease), (_PG_SUBMIT_READS, {**lease, "worker_id": worker_id}))
    if not lock_rows:
        return None, (), (), []
    row = rows[0]
    return item_of_lease(lock_rows[0]), row[:3], row[4:], [tuple(answer) for answer in row[3] or []]


#: PostgreSQL: an answer and, with ``next``, the worker's next task, in one statement (the ``groundswell_submit``
#: function, :mod:`groundswell.jobs.annotate.pg_functions`). Its row: status (``ok``; ``ok-last``: the job may be
#: complete, no next task taken; ``fallback``: nothing done), judgment id, revision, job id and name, item id, the
#: job's labels, then the next task's status (``task``, ``fallback`` or NULL when not asked) and its lease, item,
#: external id, text, leased and expiry times.
SUBMIT_FUNCTION = Sql("""
    SELECT * FROM groundswell_submit(CAST(:worker_id AS integer), CAST(:lease_id AS bigint), CAST(:label AS text),
                                     CAST(:key AS text), CAST(:time_spent AS double precision),
                                     CAST(:now AS timestamptz), CAST(:next AS boolean), CAST(:exclude AS bigint[]))
""")
#: PostgreSQL: next-task's common case in one statement (``groundswell_next_task``): status (``task`` or
#: ``fallback``: nothing done), lease, item, external id, text, leased and expiry times.
NEXT_TASK_FUNCTION = Sql("""
    SELECT * FROM groundswell_next_task(CAST(:worker_id AS integer), CAST(:job_id AS integer),
                                        CAST(:now AS timestamptz), CAST(:exclude AS bigint[]))
""")

UPSERT_VOTE = Sql("""
    INSERT INTO consolidated_labels (job_id, item_id, label, class_index, confidence, method, human_annotated,
                                     judgment_count, model_version_id, updated_at)
    VALUES (:job_id, :item_id, :label, :class_index, :confidence, 'mv', true, :judgment_count, NULL, :updated_at)
    ON CONFLICT (job_id, item_id) DO UPDATE SET
        label = excluded.label, class_index = excluded.class_index, confidence = excluded.confidence,
        method = excluded.method, human_annotated = excluded.human_annotated,
        judgment_count = excluded.judgment_count, model_version_id = excluded.model_version_id,
        updated_at = excluded.updated_at
""")
#: An admin's correction (``jobs.adjudication``) is no vote: withdrawing every answer leaves it in place.
DELETE_VOTE = Sql(
    "DELETE FROM consolidated_labels WHERE job_id = :job_id AND item_id = :item_id AND human_annotated = true"
    f" AND method <> '{ADJUDICATED}'"
)
#: Whether the item's label is an admin's correction: asked only before dynamic redundancy would reopen an item.
ADJUDICATED_LABEL = Sql(
    f"SELECT 1 FROM consolidated_labels WHERE job_id = :job_id AND item_id = :item_id AND method = '{ADJUDICATED}'"
)

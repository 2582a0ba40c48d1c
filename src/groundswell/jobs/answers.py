"""A worker's current answer: the one rule every reader of the job's answers goes through.

A worker may revise an answer (a new revision) or withdraw it (a revision with no label). Their *current*
answer to an item is their highest revision, unless that is a withdrawal. Routing's counters, the
per-submit vote, consolidation, exports, progress and the posterior all read answers through this module,
in one of its three forms: :func:`effective_judgments_query` for a job's answers, :func:`current_labels` in
Python over one item's few rows (the per-submit vote, which stays on the (job, item) index instead of
grouping the whole job), and :data:`ITEM_CURRENT_LABELS` for PostgreSQL's submit function.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from groundswell.store.tables import Item, Job, JobItem, Judgment

__all__ = [
    "ITEM_CURRENT_LABELS",
    "current_labels",
    "effective_judgments_query",
    "gold_labels",
    "human_judgment_count",
    "judgments_frame",
]

#: PostgreSQL: the current labels of one item's answers (withdrawals as NULL, for the caller to drop).
ITEM_CURRENT_LABELS = """SELECT DISTINCT ON (x.worker_id) x.label FROM judgments x
                 WHERE x.job_id = :job_id AND x.item_id = :item_id
                 ORDER BY x.worker_id, x.revision DESC"""


def current_labels(rows: Sequence[tuple[Any, ...]]) -> list[str]:
    """The current labels among one item's ``(worker_id, label)`` answer rows in revision order."""
    latest: dict[int, str | None] = {}
    for worker_id, label in rows:
        latest[worker_id] = label
    return [label for label in latest.values() if label is not None]


def effective_judgments_query(job_id: int, *, item_ids: Collection[int] | None = None):  # type: ignore[no-untyped-def]
    """Each worker's current answer per item: their latest revision, when it is not a withdrawal.

    ``item_ids`` keeps only those items, inside the grouping too, so reading a few items' answers (a label's
    detail, a page of the label browser) stays on the (job, item) index instead of grouping the whole job.
    """
    latest = select(Judgment.item_id, Judgment.worker_id, func.max(Judgment.revision).label("revision")).where(
        Judgment.job_id == job_id
    )
    if item_ids is not None:
        latest = latest.where(Judgment.item_id.in_(list(item_ids)))
    grouped = latest.group_by(Judgment.item_id, Judgment.worker_id).subquery()
    return (
        select(Judgment)
        .join(
            grouped,
            and_(
                Judgment.item_id == grouped.c.item_id,
                Judgment.worker_id == grouped.c.worker_id,
                Judgment.revision == grouped.c.revision,
            ),
        )
        .where(Judgment.job_id == job_id, Judgment.label.is_not(None))
    )


def human_judgment_count(session: Session, job: Job) -> int:
    """Answers people gave in the job (withdrawals not counted): what the budget limits, and what a job's
    quality figures count as spent. Every revision counts: each one cost an annotator's time."""
    return int(session.scalar(select(func.count()).where(Judgment.job_id == job.id, Judgment.label.is_not(None))) or 0)


def judgments_frame(session: Session, job: Job) -> pd.DataFrame:
    """Every worker's current answer in the job as a ``task, worker, label`` table (gold items included).

    ``task`` is the item id and ``worker`` the worker id. Only three columns are read, so a million
    judgments load in seconds.
    """
    query = effective_judgments_query(job.id).with_only_columns(Judgment.item_id, Judgment.worker_id, Judgment.label)
    rows = session.execute(query.execution_options(yield_per=50_000)).all()
    frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
    return frame.astype({"task": np.int64, "worker": np.int64, "label": object})


def gold_labels(session: Session, job: Job, labels: Sequence[str]) -> tuple[set[int], pd.Series[Any]]:
    """All gold item ids of the job, and the gold labels usable as known answers (in the job's labels)."""
    rows = session.execute(
        select(JobItem.item_id, Item.gold_label)
        .join(Item, Item.id == JobItem.item_id)
        .where(JobItem.job_id == job.id, JobItem.is_gold)
    ).all()
    known = {item_id: label for item_id, label in rows if label in labels}
    return {item_id for item_id, _ in rows}, pd.Series(known, dtype=object)

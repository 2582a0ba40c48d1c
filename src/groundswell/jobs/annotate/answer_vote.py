"""The per-submit majority vote: what an answer does to its item's label and, under dynamic redundancy's vote
rule, to how many answers the item wants, decided with the item's row locked inside the submit.

It reads only that item's few answer rows, so the admin page and dynamic redundancy see every answer at once;
the background's full consolidation (:func:`groundswell.jobs.consolidation.consolidate_job`) replaces these
votes with the job's model. PostgreSQL's ``groundswell_submit`` function applies the same rules
(:mod:`groundswell.jobs.annotate.pg_functions`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from groundswell.jobs.annotate.routing_sql import ADJUDICATED_LABEL, DELETE_VOTE, UPSERT_VOTE, ItemCounts, JobRow
from groundswell.jobs.answers import current_labels
from groundswell.jobs.job_settings import PER_SUBMIT_RULES, consolidation_settings
from groundswell.store.driver import Driver, Sql
from groundswell.store.tables import utcnow

__all__ = ["ItemEstimate", "after_answer", "incremental_update", "needs_more_judgments"]


@dataclass(frozen=True)
class ItemEstimate:
    """An item's label after the per-submit majority vote."""

    item_id: int
    label: str
    confidence: float
    judgment_count: int


def incremental_update(
    db: Driver, job_id: int, labels: Sequence[str], item_id: int, answers: Sequence[tuple[Any, ...]]
) -> tuple[ItemEstimate | None, tuple[Sql, dict[str, Any]]]:
    """Re-vote one (non-gold) item from its answer rows (``LEASE_ITEM_ANSWERS``: worker, label); the estimate
    (``None`` when it has no label) and the statement that stores it, for the caller to run with its other writes.

    A tie goes to the tied label at position ``item_id mod (number tied)``, in label order: the same label on
    every re-run, spread evenly over the tied labels across items, and simple enough for PostgreSQL's
    ``groundswell_submit`` function to apply the very same rule. An item whose answers were all withdrawn
    loses its human label.
    """
    votes = current_labels(answers)
    if not votes:
        return None, (DELETE_VOTE, {"job_id": job_id, "item_id": item_id})
    counts = Counter(votes)
    top = max(counts.values())
    tied = [label for label in labels if counts.get(label) == top]
    winner = tied[item_id % len(tied)]
    confidence = 0.0 if len(votes) == 1 else top / len(votes)
    record = {
        "job_id": job_id,
        "item_id": item_id,
        "label": winner,
        "class_index": labels.index(winner),
        "confidence": confidence,
        "judgment_count": len(votes),
        "updated_at": db.time(utcnow()),
    }
    estimate = ItemEstimate(item_id=item_id, label=winner, confidence=confidence, judgment_count=len(votes))
    return estimate, (UPSERT_VOTE, record)


def needs_more_judgments(job: JobRow, row: ItemCounts, estimate: ItemEstimate | None) -> bool:
    """Dynamic redundancy's rule for an item that has all the judgments it currently wants.

    One more judgment is wanted when the job has dynamic redundancy on, the item is not gold, it has at
    least the job's minimum (``workers_per_item``), it is still below the maximum, and its confidence is
    under the threshold (or it has no label at all). The confidence is the majority vote's share under
    ``redundancy_rule = "vote"``. Under ``"posterior"`` and ``"target"`` (worker skills, the model's vote)
    nothing is decided here: the background runner's review (:mod:`groundswell.jobs.redundancy`) reopens
    unsure items, since the rule needs every answer's worker and skill.
    """
    settings = consolidation_settings(job.settings)
    if not settings.dynamic_redundancy or row.is_gold or settings.rule not in PER_SUBMIT_RULES:
        return False
    if row.judgments_accepted < job.workers_per_item or row.judgments_wanted >= job.max_workers_per_item:
        return False
    return estimate is None or estimate.confidence < settings.threshold


def after_answer(
    db: Driver, job: JobRow, row: ItemCounts, answers: Sequence[tuple[Any, ...]]
) -> list[tuple[Sql, dict[str, Any]]]:
    """What ``submit_answer`` does after storing an answer, with the item's row still locked; returns the
    writes for the caller to run (with its own, in one round trip).

    Updates the item's majority-vote label from ``answers`` (its ``LEASE_ITEM_ANSWERS`` rows, the new one included),
    and under dynamic redundancy turns an item that just got all the judgments it wanted, but is still
    unsure, back into an open one wanting one more. Raising ``judgments_wanted`` keeps the invariant
    ``accepted + active leases ≤ wanted``; it never passes the job's maximum. The caller writes ``row`` back.
    """
    if row.is_gold:
        return []  # gold items inform worker skills but never get a label
    estimate, write = incremental_update(db, job.id, job.labels, row.item_id, answers)
    if row.is_done and needs_more_judgments(job, row, estimate) and not _adjudicated(db, row):
        row.judgments_wanted += 1
        row.is_done = False
    return [write]


def _adjudicated(db: Driver, row: ItemCounts) -> bool:
    """Whether an admin corrected the item's label (``jobs.adjudication``): then it is final, and no answer
    reopens it. Read only when a reopen is due, so the common submit costs nothing more."""
    return db.one(ADJUDICATED_LABEL, {"job_id": row.job_id, "item_id": row.item_id}) is not None

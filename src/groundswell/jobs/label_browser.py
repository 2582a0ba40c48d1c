"""A job's consolidated labels, a page at a time, filtered: what the API's labels browser and scripts read.

Keyset paging over the item's row id (import order), as for dataset items: each label appears once however
labels change between pages, and a deep page costs what the first does. Gold items are left out, as in every
export: they test workers and are not part of the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from groundswell.store.tables import ConsolidatedLabel, Item, Job, JobItem

__all__ = ["LabelFilter", "LabelPage", "LabelRow", "label_page"]


@dataclass(frozen=True)
class LabelFilter:
    """Which labels to return; ``None`` means any."""

    label: str | None = None
    human_annotated: bool | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None


@dataclass(frozen=True)
class LabelRow:
    item: Item
    label: ConsolidatedLabel


@dataclass(frozen=True)
class LabelPage:
    rows: list[LabelRow]
    #: The item row id to continue after, or ``None`` when this page is the last.
    after: int | None


def label_page(session: Session, job: Job, *, after: int | None, limit: int, where: LabelFilter) -> LabelPage:
    """Up to ``limit`` labeled, non-gold items of ``job`` after item row id ``after`` that pass ``where``."""
    query = (
        select(Item, ConsolidatedLabel)
        .join(ConsolidatedLabel, and_(ConsolidatedLabel.item_id == Item.id, ConsolidatedLabel.job_id == job.id))
        .join(JobItem, and_(JobItem.item_id == Item.id, JobItem.job_id == job.id))
        .where(~JobItem.is_gold)
    )
    if after is not None:
        query = query.where(Item.id > after)
    if where.label is not None:
        query = query.where(ConsolidatedLabel.label == where.label)
    if where.human_annotated is not None:
        query = query.where(ConsolidatedLabel.human_annotated.is_(where.human_annotated))
    if where.min_confidence is not None:
        query = query.where(ConsolidatedLabel.confidence >= where.min_confidence)
    if where.max_confidence is not None:
        query = query.where(ConsolidatedLabel.confidence <= where.max_confidence)
    found = [LabelRow(item, label) for item, label in session.execute(query.order_by(Item.id).limit(limit + 1))]
    more = len(found) > limit
    found = found[:limit]
    return LabelPage(rows=found, after=found[-1].item.id if more else None)

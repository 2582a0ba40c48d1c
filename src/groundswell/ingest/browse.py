"""Datasets as the API reads them: listed, described and paged, inside the caller's transaction.

The CLI's :mod:`groundswell.ingest.catalog` opens its own sessions; the web API authenticates and reads in one
transaction, so these take the session. Paging is by keyset (items after a given row id, in import order):
each item is returned exactly once however the dataset grows in between, and a page costs one index range
scan however deep it is, unlike ``OFFSET``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from groundswell.store.queries import get_dataset
from groundswell.store.tables import Dataset, Item

__all__ = ["DatasetCounts", "DatasetDetail", "ItemPage", "dataset_detail", "dataset_item_page", "dataset_rows"]


@dataclass(frozen=True)
class DatasetCounts:
    name: str
    items: int
    gold_items: int
    created_at: datetime


@dataclass(frozen=True)
class DatasetDetail(DatasetCounts):
    gold_distribution: dict[str, int]
    id_column: str | None
    label_column: str | None


@dataclass(frozen=True)
class ItemPage:
    """Up to ``limit`` items in import order; ``after`` is the row id to continue from (``None``: the end)."""

    items: list[Item]
    after: int | None


def dataset_rows(session: Session) -> list[DatasetCounts]:
    """Every dataset with its item and gold-label counts, oldest first (what ``dataset list`` prints)."""
    query = (
        select(Dataset.name, func.count(Item.id), func.count(Item.gold_label), Dataset.created_at)
        .outerjoin(Item, Item.dataset_id == Dataset.id)
        .group_by(Dataset.id)
        .order_by(Dataset.created_at, Dataset.id)
    )
    return [DatasetCounts(n, int(c), int(g), created) for n, c, g, created in session.execute(query)]


def dataset_detail(session: Session, name: str) -> DatasetDetail:
    """One dataset's counts and gold-label distribution (what ``dataset show`` prints, without the sample)."""
    dataset = get_dataset(session, name)
    in_dataset = Item.dataset_id == dataset.id
    total = session.scalar(select(func.count()).where(in_dataset)) or 0
    distribution = {
        str(label): int(count)
        for label, count in session.execute(
            select(Item.gold_label, func.count())
            .where(in_dataset, Item.gold_label.is_not(None))
            .group_by(Item.gold_label)
            .order_by(func.count().desc(), Item.gold_label)
        )
    }
    return DatasetDetail(
        name=dataset.name,
        items=int(total),
        gold_items=sum(distribution.values()),
        created_at=dataset.created_at,
        gold_distribution=distribution,
        id_column=dataset.id_column,
        label_column=dataset.label_column,
    )


def dataset_item_page(session: Session, name: str, *, after: int | None, limit: int) -> ItemPage:
    """The dataset's items after row id ``after``, in import order; one more is read to know if any follow."""
    dataset = get_dataset(session, name)
    query = select(Item).where(Item.dataset_id == dataset.id)
    if after is not None:
        query = query.where(Item.id > after)
    rows = list(session.scalars(query.order_by(Item.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return ItemPage(items=rows, after=rows[-1].id if more else None)

"""Read-side use cases for datasets: list them, describe one, export one back to JSON Lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from groundswell.ingest.sources import fs_for
from groundswell.store.queries import get_dataset, manifest_line
from groundswell.store.tables import Dataset, Item

__all__ = [
    "DatasetSummary",
    "describe_dataset",
    "export_dataset",
    "get_dataset",
    "list_datasets",
    "manifest_line",
]


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    items: int
    gold_items: int
    created_at: str
    gold_distribution: dict[str, int]
    attribute_names: list[str]
    sample: list[dict[str, Any]]


def list_datasets(factory: sessionmaker[Session]) -> list[tuple[str, int, int, str]]:
    """(name, items, items with gold, created) for every dataset, oldest first."""
    with factory() as session:
        query = (
            select(Dataset.name, func.count(Item.id), func.count(Item.gold_label), Dataset.created_at)
            .outerjoin(Item, Item.dataset_id == Dataset.id)
            .group_by(Dataset.id)
            .order_by(Dataset.created_at, Dataset.id)
        )
        return [(n, c, g, created.isoformat(timespec="seconds")) for n, c, g, created in session.execute(query)]


def describe_dataset(factory: sessionmaker[Session], name: str, *, sample_size: int = 5) -> DatasetSummary:
    with factory() as session:
        dataset = get_dataset(session, name)
        in_dataset = Item.dataset_id == dataset.id
        total = session.scalar(select(func.count()).where(in_dataset)) or 0
        distribution: dict[str, int] = {
            str(label): int(count)
            for label, count in session.execute(
                select(Item.gold_label, func.count())
                .where(in_dataset, Item.gold_label.is_not(None))
                .group_by(Item.gold_label)
                .order_by(func.count().desc())
            )
        }
        rows = session.scalars(select(Item).where(in_dataset).order_by(Item.id).limit(sample_size)).all()
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row.attributes))
        return DatasetSummary(
            name=dataset.name,
            items=total,
            gold_items=sum(distribution.values()),
            created_at=dataset.created_at.isoformat(timespec="seconds"),
            gold_distribution=distribution,
            attribute_names=list(names),
            sample=[{"id": r.external_id, "text": r.text, "gold": r.gold_label} for r in rows],
        )


def export_dataset(
    factory: sessionmaker[Session],
    name: str,
    out: str,
    *,
    storage_options: dict[str, Any] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write every item as one manifest line, in import order, streaming from the database."""
    fs, path = fs_for(out, storage_options)
    written = 0
    with factory() as session:
        dataset = get_dataset(session, name)
        query = select(Item).where(Item.dataset_id == dataset.id).order_by(Item.id).execution_options(yield_per=2000)
        with fs.open(path, "w", encoding="utf-8") as handle:
            for item in session.scalars(query):
                handle.write(json.dumps(manifest_line(item), ensure_ascii=False) + "\n")
                written += 1
                if on_progress is not None and written % 2000 == 0:
                    on_progress(written)
    if on_progress is not None:
        on_progress(written)
    return written

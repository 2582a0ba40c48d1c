"""Named lookups and row views shared by the use-case packages (``ingest`` and ``jobs`` are siblings and must
not import each other, so what both need lives here). Lookups raise ``NotFoundError`` with a hint when absent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from groundswell.errors import NotFoundError
from groundswell.store.tables import Dataset, Item

__all__ = ["get_dataset", "manifest_line"]


def get_dataset(session: Session, name: str) -> Dataset:
    dataset = session.scalars(select(Dataset).where(Dataset.name == name)).one_or_none()
    if dataset is None:
        known = session.scalars(select(Dataset.name).order_by(Dataset.name).limit(20)).all()
        hint = f"; known datasets: {', '.join(known)}" if known else "; no datasets yet (import one first)"
        raise NotFoundError(f"no dataset named {name!r}{hint}")
    return dataset


def manifest_line(item: Item) -> dict[str, Any]:
    """The item as a Ground Truth input-manifest line: ``source`` (or its ``source-ref``) plus attributes.

    Dataset export writes exactly this, and the job output manifest starts from it, so an output line is
    always its input line plus the label attributes.
    """
    if "source-ref" in item.attributes:
        return dict(item.attributes)
    return {"source": item.text, **item.attributes}

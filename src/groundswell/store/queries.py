"""Named lookups shared by the use-case packages; each raises ``NotFoundError`` with a hint when absent."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from groundswell.errors import NotFoundError
from groundswell.store.tables import Dataset

__all__ = ["get_dataset"]


def get_dataset(session: Session, name: str) -> Dataset:
    dataset = session.scalars(select(Dataset).where(Dataset.name == name)).one_or_none()
    if dataset is None:
        known = session.scalars(select(Dataset.name).order_by(Dataset.name).limit(20)).all()
        hint = f"; known datasets: {', '.join(known)}" if known else "; no datasets yet (import one first)"
        raise NotFoundError(f"no dataset named {name!r}{hint}")
    return dataset

"""Bulk paths for large imports, below the ORM: they write a million rows in seconds rather than minutes.

They run on the session's own connection, inside its transaction, so a refused import still rolls back
everything. SQLite gets one ``executemany``; PostgreSQL gets ``COPY ... FROM STDIN``. Lookups of many keys
pass the keys as one parameter (a JSON array on SQLite, an array on PostgreSQL) instead of expanding
thousands of placeholders.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

__all__ = ["ITEM_COLUMNS", "existing_item_keys", "insert_items"]

#: The column order of the tuples ``insert_items`` takes.
ITEM_COLUMNS = (
    "dataset_id",
    "external_id",
    "text",
    "content_hash",
    "attributes",
    "gold_label",
    "source_uri",
    "source_line",
    "created_at",
)
_KEY_COLUMNS = {"external_id", "content_hash"}


def _sqlite_timestamp(value: datetime) -> str:
    # The storage format SQLAlchemy's SQLite DateTime type reads back.
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def insert_items(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert item tuples (``ITEM_COLUMNS`` order; attributes as a dict, created_at a datetime)."""
    if not rows:
        return
    connection = session.connection()
    raw = connection.connection.driver_connection
    columns = ", ".join(ITEM_COLUMNS)
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY items ({columns}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row((*row[:4], json.dumps(row[4], ensure_ascii=False), *row[5:]))
        return
    stamps = {stamp: _sqlite_timestamp(stamp) for stamp in {row[8] for row in rows}}  # usually one per batch
    prepared = [(*row[:4], json.dumps(row[4], ensure_ascii=False), *row[5:8], stamps[row[8]]) for row in rows]
    placeholders = ", ".join("?" * len(ITEM_COLUMNS))
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(f"INSERT INTO items ({columns}) VALUES ({placeholders})", prepared)
    finally:
        cursor.close()


def existing_item_keys(
    session: Session, dataset_id: int, column: str, keys: Iterable[str]
) -> list[tuple[str, str, str | None, int | None]]:
    """(key, external_id, source_uri, source_line) of items in the dataset whose ``column`` is in ``keys``."""
    if column not in _KEY_COLUMNS:
        raise ValueError(f"not a lookup column: {column}")
    unique = sorted(set(keys))
    if not unique:
        return []
    connection = session.connection()
    raw = connection.connection.driver_connection
    select = f"SELECT {column}, external_id, source_uri, source_line FROM items WHERE dataset_id = "
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(select + f"%s AND {column} = ANY(%s)", (dataset_id, unique))
            return list(cursor.fetchall())
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(select + f"? AND {column} IN (SELECT value FROM json_each(?))", (dataset_id, json.dumps(unique)))
        return list(cursor.fetchall())
    finally:
        cursor.close()

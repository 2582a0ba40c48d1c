"""Labels out as they become final: an ordered feed with a cursor, and webhooks owed each new label.

A label is *final* when its item is done (all the answers it wants are in, or the model labeled it) and not
gold. Triggers (migration 0009) append a ``label_events`` row in the writer's own transaction whenever that
starts to hold or a final label changes, so every path that writes labels feeds it without knowing.

Why a separate sequence (``seq``) and not the event id: on PostgreSQL ids are handed out when rows are
inserted, not when their transactions commit, so a reader that moved its cursor past id 11 could later see
a committed id 10 and never read it. :func:`sequence_events` numbers the committed, unnumbered events under
one lock (PostgreSQL: an advisory transaction lock; SQLite has one writer anyway), so ``seq`` grows in the
order events became visible, and "everything after my cursor" never skips one. In the same transaction it
owes each new event to every webhook of its job (``webhook_deliveries``, the outbox): nothing is owed twice
and, being rows, nothing owed is lost across a restart. :mod:`groundswell.jobs.webhook_delivery` sends them.

A reader gets the item's label as it is when read, rendered as its output-manifest line (the same line
``job export`` writes); a label that changes again is a new event, so the last line per item wins.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fsspec.implementations.local import LocalFileSystem
from sqlalchemy import func, insert, literal, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from groundswell.errors import InvalidInputError
from groundswell.jobs.exports import output_line
from groundswell.jobs.lifecycle import get_job
from groundswell.store.db import transaction
from groundswell.store.files import fs_for
from groundswell.store.tables import (
    ConsolidatedLabel,
    Item,
    Job,
    LabelEvent,
    Webhook,
    WebhookDelivery,
    utcnow,
)

__all__ = ["FeedExport", "FeedPage", "FeedRow", "export_feed", "feed_page", "parse_since", "sequence_events"]

#: PostgreSQL advisory lock that makes numbering events one transaction at a time.
_SEQUENCE_LOCK = 0x67_73_66_65_65_64
#: Most events numbered in one transaction (the rest wait for the next call).
_SEQUENCE_BATCH = 20_000


def sequence_events(session: Session, *, now: datetime | None = None, limit: int = _SEQUENCE_BATCH) -> int:
    """Number the committed events that have no ``seq`` yet, in id order after every numbered one, and owe each
    to its job's webhooks. Returns how many were numbered. Call inside a write transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEQUENCE_LOCK})
    base = int(session.scalar(select(func.coalesce(func.max(LabelEvent.seq), 0))) or 0)
    ids = session.scalars(
        select(LabelEvent.id).where(LabelEvent.seq.is_(None)).order_by(LabelEvent.id).limit(limit)
    ).all()
    if not ids:
        return 0
    numbered = (
        select(LabelEvent.id, (func.row_number().over(order_by=LabelEvent.id) + base).label("seq"))
        .where(LabelEvent.seq.is_(None), LabelEvent.id <= ids[-1])
        .subquery()
    )
    # Under READ COMMITTED this statement sees events committed since the SELECT above (an earlier id that
    # committed late), and numbers them too: the seqs it returns, not len(ids), say which events are new.
    given = session.scalars(
        update(LabelEvent)
        .where(LabelEvent.id == numbered.c.id)
        .values(seq=numbered.c.seq)
        .returning(LabelEvent.seq)
        .execution_options(synchronize_session=False)
    ).all()
    top = max((int(seq) for seq in given if seq is not None), default=base)
    stamp = now or utcnow()
    owed = (
        select(
            Webhook.id,
            LabelEvent.id,
            literal(0),
            literal(stamp, type_=WebhookDelivery.next_attempt_at.type),
            literal(stamp, type_=WebhookDelivery.created_at.type),
        )
        .join(Webhook, Webhook.job_id == LabelEvent.job_id)
        .where(LabelEvent.seq > base, LabelEvent.seq <= top)
        .order_by(LabelEvent.seq, Webhook.id)  # delivery ids in feed order, so they are sent in it
    )
    session.execute(
        insert(WebhookDelivery).from_select(
            ["webhook_id", "event_id", "attempts", "next_attempt_at", "created_at"], owed
        )
    )
    return top - base


def parse_since(value: str | int | None) -> int:
    """A feed cursor: ``0`` (or nothing) for the beginning, else the ``next_since`` a reader was given."""
    if value is None or value == "":
        return 0
    try:
        cursor = int(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"since must be a cursor this feed gave (a whole number), got {value!r}") from None
    if cursor < 0:
        raise InvalidInputError(f"since must be ≥ 0, got {cursor}")
    return cursor


@dataclass(frozen=True)
class FeedRow:
    """One final label in feed order: its place (``seq``), the item and the label as they are now."""

    seq: int
    item: Item
    label: ConsolidatedLabel

    def manifest_line(self, job: Job) -> dict[str, Any]:
        """The output-manifest line ``job export`` writes for this item."""
        return output_line(self.item, self.label, job)


@dataclass(frozen=True)
class FeedPage:
    """Labels after a cursor, and the cursor to ask with next time (the same one when nothing was new)."""

    rows: list[FeedRow]
    next_since: int


def feed_page(session: Session, job: Job, *, since: int = 0, limit: int = 1000, human: bool | None = None) -> FeedPage:
    """The job's labels that became final (or changed) after ``since``, oldest first, at most ``limit``.

    Numbers waiting events first (:func:`sequence_events`), so a reader never depends on a runner being up.
    ``human`` keeps only human-consolidated (``True``) or machine (``False``) labels; the cursor still moves
    past the others.
    """
    if limit < 1:
        raise InvalidInputError(f"limit must be ≥ 1, got {limit}")
    sequence_events(session)
    events = session.execute(
        select(LabelEvent.seq, Item, ConsolidatedLabel)
        .join(Item, Item.id == LabelEvent.item_id)
        .outerjoin(
            ConsolidatedLabel,
            (ConsolidatedLabel.job_id == LabelEvent.job_id) & (ConsolidatedLabel.item_id == LabelEvent.item_id),
        )
        .where(LabelEvent.job_id == job.id, LabelEvent.seq > since)
        .order_by(LabelEvent.seq)
        .limit(limit)
    ).all()
    rows = [
        FeedRow(int(seq or 0), item, label)
        for seq, item, label in events
        if label is not None and (human is None or label.human_annotated == human)
    ]
    return FeedPage(rows, int(events[-1][0] or 0) if events else since)


@dataclass(frozen=True)
class FeedExport:
    """What ``job export --since`` wrote: lines, and the cursor to pass next time."""

    out: str
    lines: int
    since: int
    next_since: int


def export_feed(
    factory: sessionmaker[Session],
    job_name: str,
    out: str,
    *,
    since: int = 0,
    storage_options: dict[str, Any] | None = None,
    page: int = 5000,
) -> FeedExport:
    """Write the output-manifest lines of the labels that became final after ``since`` to ``out`` (local or
    ``s3://``), in feed order, and return the cursor to continue from (``job export --since``)."""
    fs, path = fs_for(out, storage_options)
    if isinstance(fs, LocalFileSystem):
        fs.makedirs(posixpath.dirname(path) or ".", exist_ok=True)
    written, cursor = 0, since
    with fs.open(path, "w", encoding="utf-8") as handle:
        while True:
            with transaction(factory) as session:  # numbering events writes
                job = get_job(session, job_name)
                chunk = feed_page(session, job, since=cursor, limit=page)
                for row in chunk.rows:
                    handle.write(json.dumps(row.manifest_line(job), ensure_ascii=False) + "\n")
            written += len(chunk.rows)
            if chunk.next_since == cursor:
                break
            cursor = chunk.next_since
    return FeedExport(out, written, since, cursor)

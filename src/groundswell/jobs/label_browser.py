"""A job's consolidated labels, a page at a time, filtered: what the API's labels browser and scripts read.

Keyset paging over the item's row id (import order), as for dataset items: each label appears once however
labels change between pages, and a deep page costs what the first does. Gold items are left out, as in every
export: they test workers and are not part of the result.

Each row carries its *agreement*: the share of the item's current answers (``jobs.answers``) that equal its
final label, read for the whole page in one grouped query. It is what a reviewer sorts by to find the labels
worth a second look, together with the ``disagreement`` filter (answers that differ) and ``adjudicated`` (an
admin's corrections, :mod:`groundswell.jobs.adjudication`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from groundswell.jobs.answers import effective_judgments_query
from groundswell.store.tables import ADJUDICATED, ConsolidatedLabel, Item, Job, JobItem, Judgment

__all__ = ["LabelFilter", "LabelPage", "LabelRow", "agreement", "answer_counts", "label_page"]


@dataclass(frozen=True)
class LabelFilter:
    """Which labels to return; ``None`` means any.

    ``text``: the tweet contains it, ignoring case (ASCII letters only on SQLite); ``%`` and ``_`` are
    plain characters. ``disagreement``: ``True`` keeps items whose current answers hold at least two
    different labels, ``False`` the others (unanimous, a single answer, or none, as for machine labels).
    ``adjudicated``: an admin's correction (``True``) or any other label (``False``).
    """

    label: str | None = None
    human_annotated: bool | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    text: str | None = None
    disagreement: bool | None = None
    adjudicated: bool | None = None


@dataclass(frozen=True)
class LabelRow:
    item: Item
    label: ConsolidatedLabel
    #: Share of the item's current answers equal to its label; ``None`` when nobody answered it.
    agreement: float | None = None


@dataclass(frozen=True)
class LabelPage:
    rows: list[LabelRow]
    #: The item row id to continue after, or ``None`` when this page is the last.
    after: int | None


def answer_counts(session: Session, job: Job, item_ids: Collection[int]) -> dict[int, dict[str, int]]:
    """Per item, how many current answers gave each label: one grouped query for all of ``item_ids``."""
    if not item_ids:
        return {}
    answers = (
        effective_judgments_query(job.id, item_ids=item_ids)
        .with_only_columns(Judgment.item_id, Judgment.label)
        .subquery()
    )
    counts: dict[int, dict[str, int]] = {}
    for item_id, label, n in session.execute(
        select(answers.c.item_id, answers.c.label, func.count()).group_by(answers.c.item_id, answers.c.label)
    ):
        counts.setdefault(int(item_id), {})[str(label)] = int(n)
    return counts


def agreement(counts: Mapping[str, int] | None, label: str) -> float | None:
    """Share of the answers (``answer_counts``' entry for one item) that gave ``label``."""
    total = sum(counts.values()) if counts else 0
    return None if not counts or not total else counts.get(label, 0) / total


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
    if where.text:
        # autoescape: the search's own % and _ (and the escape character) match themselves, on both databases.
        query = query.where(Item.text.icontains(where.text, autoescape=True))
    if where.adjudicated is not None:
        corrected = ConsolidatedLabel.method == ADJUDICATED
        query = query.where(corrected if where.adjudicated else ~corrected)
    if where.disagreement is not None:
        answers = effective_judgments_query(job.id).with_only_columns(Judgment.item_id, Judgment.label).subquery()
        split = (
            select(answers.c.item_id).group_by(answers.c.item_id).having(func.count(func.distinct(answers.c.label)) > 1)
        )
        query = query.where(Item.id.in_(split) if where.disagreement else Item.id.not_in(split))
    found = list(session.execute(query.order_by(Item.id).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    counts = answer_counts(session, job, [item.id for item, _ in found])
    rows = [LabelRow(item, label, agreement(counts.get(item.id), label.label)) for item, label in found]
    return LabelPage(rows=rows, after=rows[-1].item.id if more else None)

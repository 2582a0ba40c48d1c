"""Enums and frozen value objects shared by every layer.

They live here, below the store and the pure core, so that a job state or a judgment looks the same to the
database, the consolidation library and the web API without any of them importing another.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_LINE_CHARS",
    "InputFormat",
    "ItemRecord",
    "JobState",
    "LeaseState",
    "WorkState",
    "WorkerKind",
    "content_hash",
]

#: Ground Truth's per-line limit on an input manifest line, which we also apply to a tweet's text.
MAX_LINE_CHARS = 100_000
#: Default cap on one input line (or CSV record) in bytes, checked while reading so that an import's memory is
#: bounded by it rather than by the longest line. 4 MiB leaves room for a tweet at the text limit written at
#: JSON's longest escape (12 bytes, ``\ud83d\ude00``, per character outside the BMP: 1.2 MB) plus 2.8 MB of
#: pass-through attributes, so a line is refused by size alone only when it is far beyond any tweet.
MAX_LINE_BYTES = 4 * 1024 * 1024


def content_hash(text: str) -> str:
    """128 bits of SHA-256 over the UTF-8 text, in hex: finds duplicate tweets, and ids items given none."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class InputFormat(enum.StrEnum):
    """The input layouts `groundswell dataset import` reads."""

    JSONL = "jsonl"
    CSV = "csv"
    TSV = "tsv"
    PARQUET = "parquet"
    TWEETEVAL = "tweeteval"


class JobState(enum.StrEnum):
    """Labeling job lifecycle: draft → running ⇄ paused → completed | stopped."""

    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"


class LeaseState(enum.StrEnum):
    """A task lease holds one item for one worker until it is submitted, declined or expires."""

    ACTIVE = "active"
    SUBMITTED = "submitted"
    DECLINED = "declined"
    EXPIRED = "expired"


class WorkerKind(enum.StrEnum):
    """Who gave a judgment: a person, an admin, a simulated annotator, or a model voting in consolidation."""

    HUMAN = "human"
    ADMIN = "admin"
    SIMULATED = "simulated"
    MODEL = "model"


class WorkState(enum.StrEnum):
    """Background work moves queued → running → done | failed (failed work may be retried)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class ItemRecord:
    """One validated item ready to store: what every reader yields, whatever the input format."""

    external_id: str
    text: str
    attributes: dict[str, Any] = field(default_factory=dict)
    gold_label: str | None = None
    line: int | None = None
    #: ``content_hash(text)``, computed once by the reader.
    digest: str = ""
    #: The file the row came from, when it differs from the input named on the command line (TweetEval).
    source: str | None = None

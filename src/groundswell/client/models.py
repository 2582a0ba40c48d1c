"""The SDK's plain records of what the API returns: frozen dataclasses, built from JSON by ``from_api``.

Fields the server adds later are ignored (an older SDK keeps working against a newer server); timestamps
become timezone-aware :class:`datetime` objects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

__all__ = [
    "AccuracyEstimate",
    "Adjudication",
    "Answer",
    "Duplicate",
    "ImportResult",
    "Item",
    "JobProgress",
    "JobQuality",
    "Label",
    "LabelDetail",
    "ModelVote",
    "Team",
    "Worker",
    "from_api",
    "timestamp",
]

T = TypeVar("T")


def timestamp(value: Any) -> datetime | None:
    """An ISO 8601 timestamp from the API (``None`` stays ``None``)."""
    return None if value is None else datetime.fromisoformat(str(value))


def from_api(cls: type[T], data: dict[str, Any], **overrides: Any) -> T:
    """``cls`` from an API object: its fields by name, unknown keys dropped, ``*_at`` fields parsed."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {k: (timestamp(v) if k.endswith("_at") or k == "last_answer" else v) for k, v in data.items()}
    return cls(**{**{k: v for k, v in values.items() if k in names}, **overrides})


@dataclass(frozen=True)
class JobProgress:
    """How far a job is: ``done`` of ``items`` tweets have every answer they need."""

    items: int
    done: int
    in_progress: int
    open: int
    judgments: int
    judgments_wanted: int
    active_leases: int
    active_annotators: int
    percent_done: float

    @property
    def total(self) -> int:
        """The job's tweets (``items``), the denominator of ``done / total``."""
        return self.items

    def __str__(self) -> str:
        return f"{self.done} / {self.items} done ({self.percent_done:g} %), {self.judgments} answers"


@dataclass(frozen=True)
class AccuracyEstimate:
    """Estimated accuracy of the job's labels with its 95 % interval."""

    accuracy: float
    low: float
    high: float
    items: int
    gold_items: int


@dataclass(frozen=True)
class JobQuality:
    """The job's estimated accuracy and what it cost in human answers."""

    estimated_accuracy: AccuracyEstimate | None
    basis: str
    accuracy_target: float | None
    labeled: int
    machine_labeled: int
    items: int
    answers_spent: int
    answers_projected: int

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> JobQuality:
        estimate = data.get("estimated_accuracy")
        parsed = None if estimate is None else from_api(AccuracyEstimate, estimate)
        return from_api(cls, data, estimated_accuracy=parsed)


@dataclass(frozen=True)
class Duplicate:
    """A row of an import whose id or text was already in the dataset (or earlier in the file)."""

    line: int | None
    item_id: str
    first_seen: str
    same_id: bool


@dataclass(frozen=True)
class ImportResult:
    """What an import did: rows read, imported, rejected (with ``skip_invalid``) and duplicates skipped."""

    dataset: str
    source: str
    format: str
    created_dataset: bool
    rows_read: int
    imported: int
    rejected: int
    duplicate_ids: int
    duplicate_texts: int
    duplicates: list[Duplicate]
    problems: list[str]

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ImportResult:
        return from_api(cls, data, duplicates=[from_api(Duplicate, d) for d in data.get("duplicates", [])])


@dataclass(frozen=True)
class Item:
    """One tweet of a dataset: its id, text, gold label (if the import named one) and other attributes."""

    id: str
    text: str
    gold_label: str | None
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Label:
    """A tweet's consolidated label in a job: from people (``human_annotated``) or the machine."""

    item_id: str
    source: str
    label: str
    class_index: int
    confidence: float
    human_annotated: bool
    method: str
    judgment_count: int
    updated_at: datetime
    #: Share of the tweet's current answers equal to its label (``None`` without answers, and in the feed).
    agreement: float | None = None
    #: An admin's correction (method ``adjudicated``).
    adjudicated: bool = False


@dataclass(frozen=True)
class Answer:
    """A worker's current answer to a tweet."""

    worker_id: int
    worker: str
    label: str
    submitted_at: datetime
    time_spent_s: float | None


@dataclass(frozen=True)
class ModelVote:
    """The automated-labeling model's vote on a tweet (``proba``: each label's probability, when stored)."""

    label: str
    class_index: int
    confidence: float | None
    proba: dict[str, float] | None


@dataclass(frozen=True)
class Adjudication:
    """One correction of a tweet's label by an admin, or a revert (``label`` ``None``), and what it replaced."""

    id: int
    worker_id: int
    worker: str
    label: str | None
    previous_label: str | None
    previous_method: str | None
    previous_confidence: float | None
    note: str | None
    created_at: datetime


@dataclass(frozen=True)
class LabelDetail:
    """One tweet of a job under review: its label, every current answer, the model's vote, its corrections
    (newest first), and the job's labels a correction may choose from."""

    item_id: str
    source: str
    labels: list[str]
    label: Label | None
    adjudicated: bool
    answers: list[Answer]
    model_vote: ModelVote | None
    history: list[Adjudication]

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> LabelDetail:
        label, vote = data.get("label"), data.get("model_vote")
        return from_api(
            cls,
            data,
            label=None if label is None else from_api(Label, label),
            answers=[from_api(Answer, row) for row in data.get("answers", [])],
            model_vote=None if vote is None else from_api(ModelVote, vote),
            history=[from_api(Adjudication, row) for row in data.get("history", [])],
        )


@dataclass(frozen=True)
class LabelFeed:
    """Labels that became final after a feed cursor, and the cursor to ask with next time."""

    labels: list[Label]
    next_since: str


@dataclass(frozen=True)
class Webhook:
    """A URL that receives each final label of a job: deliveries made, waiting, and the last failure."""

    id: int
    url: str
    created_at: datetime
    delivered: int
    pending: int
    last_status: int | None
    last_error: str | None


@dataclass(frozen=True)
class Worker:
    """A person who can sign in: an annotator or an admin, with their teams."""

    id: int
    email: str | None
    name: str
    kind: str
    is_active: bool
    teams: list[str]
    created_at: datetime


@dataclass(frozen=True)
class Team:
    """A team of annotators (created by naming it in an invite) and how many it has."""

    name: str
    members: int
    created_at: datetime

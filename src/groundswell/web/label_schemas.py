"""Bodies of the API's review of one label: its detail (answers, the model's vote, past corrections) and an
admin's correction (:mod:`groundswell.jobs.adjudication`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from groundswell.jobs.adjudication import MAX_NOTE_CHARS
from groundswell.jobs.labels import MAX_LABEL_CHARS
from groundswell.web.admin_schemas import LabelPublic
from groundswell.web.schemas import PlainText

__all__ = ["AdjudicationPublic", "AnswerPublic", "LabelCorrection", "LabelDetailPublic", "ModelVotePublic"]


class LabelCorrection(BaseModel):
    """An admin's label for the tweet: final, kept over every later answer, vote and consolidation."""

    model_config = ConfigDict(extra="forbid")

    label: PlainText = Field(min_length=1, max_length=MAX_LABEL_CHARS, description="One of the job's labels.")
    note: PlainText | None = Field(
        default=None, max_length=MAX_NOTE_CHARS, description="Why: kept with the correction in its history."
    )


class AnswerPublic(BaseModel):
    """A worker's current answer to the tweet."""

    worker_id: int
    worker: str = Field(description="The worker's display name.")
    label: str
    submitted_at: datetime
    time_spent_s: float | None


class ModelVotePublic(BaseModel):
    """The automated-labeling model's vote on the tweet."""

    label: str
    class_index: int
    confidence: float | None
    proba: dict[str, float] | None = Field(description="Each label's calibrated probability (null if not stored).")


class AdjudicationPublic(BaseModel):
    """One correction (``label``) or revert (``label`` null), with the label the tweet had before it."""

    id: int
    worker_id: int
    worker: str = Field(description="The admin's display name.")
    label: str | None
    previous_label: str | None
    previous_method: str | None
    previous_confidence: float | None
    note: str | None
    created_at: datetime


class LabelDetailPublic(BaseModel):
    """One tweet of a job under review: its label, every current answer, the model's vote, its corrections."""

    item_id: str
    source: str
    labels: list[str] = Field(description="The job's labels in class order: what a correction may choose.")
    label: LabelPublic | None = Field(description="Its consolidated label (null: none yet).")
    adjudicated: bool
    answers: list[AnswerPublic] = Field(description="Current answers, oldest first.")
    model_vote: ModelVotePublic | None
    history: list[AdjudicationPublic] = Field(description="Corrections and reverts, newest first.")

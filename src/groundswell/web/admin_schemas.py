"""Bodies of the API's operations on datasets, labels and workers (the admin's side beyond jobs).

Every field states its bounds, so a request the server would refuse for its shape is one the OpenAPI document
already forbids. A dataset created through the API gets a name a URL carries as it is (letters, digits,
``.``, ``_``, ``-``); datasets the CLI named otherwise are still reachable by any name without '/'.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from groundswell.web.schemas import PlainText

__all__ = [
    "DATASET_NAME_PATTERN",
    "DatasetDetailPublic",
    "DatasetImport",
    "DatasetPublic",
    "DuplicatePublic",
    "ImportResultPublic",
    "InviteCreate",
    "InvitePublic",
    "ItemPagePublic",
    "ItemPublic",
    "LabelPagePublic",
    "LabelPublic",
    "TeamPublic",
    "UploadFields",
    "WorkerPublic",
    "upload_schema",
]

DATASET_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]*$"
#: No control characters, no whitespace at either end (names and emails are compared as given).
_TRIMMED = "^[^\\s\\u0000-\\u001f\\u007f](?:[^\\u0000-\\u001f\\u007f]*[^\\s\\u0000-\\u001f\\u007f])?$"
_EMAIL = "^[^\\s@\\u0000-\\u001f\\u007f]+@[^\\s@\\u0000-\\u001f\\u007f]+$"
Column = Annotated[PlainText | None, Field(default=None, min_length=1, max_length=200)]
UploadFormat = Literal["jsonl", "csv", "tsv", "parquet"]


class _ImportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=DATASET_NAME_PATTERN,
        description="The dataset to create, or to append to when it exists.",
        examples=["launch"],
    )
    text_column: Column = None
    id_column: Column = None
    label_column: Column = None
    skip_invalid: bool = Field(
        default=False, description="Import the good rows and list the rejected ones, instead of refusing the file."
    )


class DatasetImport(_ImportOptions):
    """Import from a path on the server or an ``s3://`` URI, with the options of ``groundswell dataset import``."""

    uri: PlainText = Field(min_length=1, max_length=4096, examples=["/srv/tweets/launch.jsonl"])
    split: Column = Field(default=None, description="TweetEval folder: import only this split.")
    # A literal, not the enum: the schema is written inline into the operation's two-media-type request body.
    format: Literal["jsonl", "csv", "tsv", "parquet", "tweeteval"] | None = Field(
        default=None, description="Override detection by the name's suffix."
    )


class UploadFields(_ImportOptions):
    """The form fields sent with an uploaded file (``multipart/form-data``)."""

    format: UploadFormat | None = Field(default=None, description="Override detection by the file name's suffix.")


def upload_schema() -> dict[str, Any]:
    """The multipart body's JSON Schema: the form fields plus the file itself."""
    schema = UploadFields.model_json_schema()
    schema["properties"] = {"file": {"type": "string", "format": "binary"}, **schema["properties"]}
    schema["required"] = ["file", *schema.get("required", [])]
    schema.pop("title", None)
    return schema


class DuplicatePublic(BaseModel):
    line: int | None
    item_id: str
    first_seen: str
    same_id: bool


class ImportResultPublic(BaseModel):
    dataset: str
    source: str
    format: str
    created_dataset: bool
    rows_read: int
    imported: int
    rejected: int
    duplicate_ids: int
    duplicate_texts: int
    duplicates: list[DuplicatePublic] = Field(description="The first duplicates found (at most 50).")
    problems: list[str] = Field(description="With skip_invalid: the first rejected rows, as file:line: problem.")


class DatasetPublic(BaseModel):
    name: str
    items: int
    gold_items: int
    created_at: datetime


class DatasetDetailPublic(DatasetPublic):
    gold_distribution: dict[str, int]
    id_column: str | None
    label_column: str | None


class ItemPublic(BaseModel):
    id: str
    text: str
    gold_label: str | None
    attributes: dict[str, Any]


class ItemPagePublic(BaseModel):
    items: list[ItemPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
    next_since: str | None = Field(
        default=None, description="With `since`: the feed cursor to pass as `since` next time (null otherwise)."
    )


class LabelPublic(BaseModel):
    item_id: str
    source: str
    label: str
    class_index: int
    confidence: float
    human_annotated: bool
    method: str
    judgment_count: int
    updated_at: datetime
    agreement: float | None = Field(
        default=None,
        description="Share of the tweet's current answers equal to its label (null without answers, and in "
        "the feed, `since`).",
    )
    adjudicated: bool = Field(default=False, description="An admin's correction (method `adjudicated`).")


class LabelPagePublic(BaseModel):
    labels: list[LabelPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
    next_since: str | None = Field(
        default=None, description="With `since`: the feed cursor to pass as `since` next time (null otherwise)."
    )


class InviteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320, pattern=_EMAIL, examples=["ana@example.org"])
    team: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=_TRIMMED, description="Created if new.", examples=["core"]
    )
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=_TRIMMED)


class InvitePublic(BaseModel):
    worker_id: int
    email: str
    team: str | None
    invite_url: str = Field(description="One-time link that signs the annotator in; shown once.")


class WorkerPublic(BaseModel):
    id: int
    email: str | None
    name: str
    kind: str
    is_active: bool
    teams: list[str]
    created_at: datetime


class TeamPublic(BaseModel):
    name: str
    members: int
    created_at: datetime


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=2048,
        # http(s), a host name or address, an optional port, then anything without spaces.
        pattern=r"^https?://[A-Za-z0-9._~%-]+(:[0-9]{1,5})?([/?#][^\s]*)?$",
        examples=["https://hooks.example.org/labels"],
    )


class WebhookPublic(BaseModel):
    """A webhook and its deliveries: delivered, waiting (retried until a 2xx), the last failure."""

    id: int
    url: str
    created_at: datetime
    delivered: int
    pending: int
    last_status: int | None
    last_error: str | None


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="The job's signing key: X-Groundswell-Signature is sha256=HMAC-SHA256(body).")


class WebhookListPublic(BaseModel):
    webhooks: list[WebhookPublic]
    secret: str | None = Field(description="The job's signing key (null until its first webhook).")


class DriftDayPublic(BaseModel):
    day: str = Field(description="UTC date (YYYY-MM-DD) on which these labels became final.")
    labels: int
    shares: dict[str, float] = Field(description="Share of the day's labels per label.")
    machine_share: float
    reviewed: int = Field(description="Tweets people labeled that carry a model vote.")
    agreement: float | None = Field(description="Model–human agreement on them (null when none).")
    warning: str | None


class DriftPublic(BaseModel):
    """A job's labels day by day (oldest first) and the model's agreement with people."""

    job: str
    days: list[DriftDayPublic]
    agreement: float | None = Field(description="Agreement over the whole window.")
    floor: float | None = Field(description="The level a day's agreement is held to.")
    warnings: list[str]


class ModelVersionPublic(BaseModel):
    """A model the job's loop trained (or a restore): what trained it, its scores, whether it was promoted."""

    id: int
    kind: str = Field(description="'loop' (a candidate the runner trained) or 'restore'.")
    model_type: str
    created_at: datetime
    training_size: int | None
    artifact_uri: str
    metrics: dict[str, Any] = Field(
        description="labels_seen, train_labels, holdout_labels, holdout_macro_recall, served_macro_recall, "
        "promoted, promoted_by, decision (and restored_from for a restore)."
    )


class ModelTrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="Folder name under the data dir's models/trained (default: <job>-<model type>).",
    )
    model_type: Literal["tfidf-linear", "embeddings-linear", "transformer"] = "tfidf-linear"


class WorkPublic(BaseModel):
    """A unit of background work: poll it until ``state`` is ``done`` (``result``) or ``failed`` (``error``)."""

    id: int
    kind: str
    state: str
    job_id: int | None
    payload: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class ModelDetailPublic(ModelVersionPublic):
    card: dict[str, Any] | None = Field(description="The model card (null when its files are gone).")


class ConsolidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "mv", "wmv", "ds", "ods", "glad", "mace"] | None = Field(
        default=None, description="Overrides the job's consolidation method for this run."
    )


class ConsolidationPublic(BaseModel):
    job: str
    method: str
    reason: str
    items_labeled: int
    judgments: int
    workers: int
    gold_items: int
    snapshot: datetime
    seconds: float

"""The whole domain's schema, so later features add columns and rows rather than redesign tables.

Why it is shaped this way:
- ``job_items`` carries per-job routing state (priority, judgments wanted/accepted) so the next-task query
  is one indexed lookup rather than a count over judgments.
- ``judgments`` is append-only; a unique idempotency key per worker and job makes retried submits harmless.
- ``task_leases`` records who holds which item until when; the partial unique index (one active lease per
  worker and item) is the database's own guard against double assignment.
- ``work`` is the background queue (PostgreSQL claims rows with ``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from groundswell.domain import JobState, LeaseState, WorkerKind, WorkState

__all__ = [
    "ADJUDICATED",
    "ApiKey",
    "AuthFailure",
    "AutoLabelRound",
    "Base",
    "ConsolidatedLabel",
    "Dataset",
    "Invite",
    "Item",
    "Job",
    "JobItem",
    "JobTeam",
    "Judgment",
    "LabelAdjudication",
    "LabelSchema",
    "ModelVersion",
    "QualitySnapshot",
    "TaskLease",
    "Team",
    "TeamMember",
    "WebSession",
    "Work",
    "Worker",
    "WorkerSkill",
    "utcnow",
]

#: Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """Timezone-aware now; every stored timestamp is UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware, on SQLite (which keeps no zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use groundswell.store.tables.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(
        kind,
        native_enum=False,
        length=16,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
        name=kind.__name__.lower(),
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JsonType, list[Any]: JsonType}


def _created() -> Mapped[datetime]:
    return mapped_column(UtcDateTime(), default=utcnow, nullable=False)


# --- data -------------------------------------------------------------------------------------------------


class Dataset(Base):
    """A named collection of items imported from one or more files."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: The import options that produced the items, so export writes them back under the same names.
    id_column: Mapped[str | None] = mapped_column(String(200))
    label_column: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()


class Item(Base):
    """One tweet: stable external id, text, pass-through attributes, optional gold label."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("dataset_id", "external_id", name="uq_items_dataset_external_id"),
        Index("ix_items_dataset_content_hash", "dataset_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(32))
    #: Plain JSON (not JSONB) on PostgreSQL too: pass-through attributes keep their keys' order in exports.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)
    gold_label: Mapped[str | None] = mapped_column(String(256))
    #: Where the item came from, so a later duplicate can point at its first occurrence.
    source_uri: Mapped[str | None] = mapped_column(Text)
    source_line: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()


class LabelSchema(Base):
    """An ordered label list; the position of a label is its class index in every output."""

    __tablename__ = "label_schemas"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    labels: Mapped[list[Any]] = mapped_column()
    created_at: Mapped[datetime] = _created()


# --- people -----------------------------------------------------------------------------------------------


class Worker(Base):
    """Anyone or anything that gives judgments or administers jobs."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[WorkerKind] = mapped_column(_enum(WorkerKind), default=WorkerKind.HUMAN)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = _created()


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True)


class ApiKey(Base):
    """A bearer key; only its SHA-256 is stored, the prefix helps a person tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    #: ``admin``, or ``read-only``: reads everything an admin reads (GET), changes nothing.
    role: Mapped[str] = mapped_column(String(16), default="admin", server_default="admin")
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WebSession(Base):
    """A signed-in browser: the cookie carries a random token whose hash is stored here, with its CSRF token."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Invite(Base):
    """A one-time invite link token (stored hashed) that signs an annotator in."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = _created()


class AuthFailure(Base):
    """Failed sign-ins of one client address or API-key prefix in its current window, shared by every server
    process (see :mod:`groundswell.jobs.throttle`)."""

    __tablename__ = "auth_failures"
    __table_args__ = (Index("ix_auth_failures_window_start", "window_start"),)

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime())
    failures: Mapped[int] = mapped_column(Integer)


# --- jobs -------------------------------------------------------------------------------------------------


class Job(Base):
    """A labeling job over one dataset with one label schema."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("workers_per_item BETWEEN 1 AND 9", name="workers_per_item_range"),
        CheckConstraint("max_workers_per_item >= workers_per_item", name="max_workers_at_least_min"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63))
    #: Ground Truth job names are unique case-insensitively; this column enforces it on every database.
    name_key: Mapped[str] = mapped_column(String(63), unique=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"))
    label_schema_id: Mapped[int] = mapped_column(ForeignKey("label_schemas.id", ondelete="RESTRICT"))
    label_attribute_name: Mapped[str] = mapped_column(String(127))
    state: Mapped[JobState] = mapped_column(_enum(JobState), default=JobState.DRAFT)
    instructions_md: Mapped[str] = mapped_column(Text, default="")
    workers_per_item: Mapped[int] = mapped_column(Integer, default=3)
    max_workers_per_item: Mapped[int] = mapped_column(Integer, default=3)
    task_time_limit_s: Mapped[int] = mapped_column(Integer, default=300)
    task_availability_s: Mapped[int] = mapped_column(Integer, default=30 * 24 * 3600)
    max_concurrent_tasks: Mapped[int | None] = mapped_column(Integer)
    #: Feature switches that later issues read (dynamic redundancy, auto-labeling, accuracy target, ...).
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: Key of the HMAC that signs this job's webhook deliveries; made when its first webhook is added.
    webhook_secret: Mapped[str | None] = mapped_column(String(64))


class JobTeam(Base):
    __tablename__ = "job_teams"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)


class JobItem(Base):
    """Routing state of one item within one job.

    The counters are kept in step with leases and judgments inside the same transaction, so "does this item
    still have a free slot" is a look at one row, and locking that row serialises everything that changes it.
    """

    __tablename__ = "job_items"
    __table_args__ = (
        CheckConstraint("judgments_accepted + leases_active <= judgments_wanted", name="never_over_assigned"),
    )

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    judgments_wanted: Mapped[int] = mapped_column(Integer)
    judgments_accepted: Mapped[int] = mapped_column(Integer, default=0)
    leases_active: Mapped[int] = mapped_column(Integer, default=0)
    #: True once anyone has been given the item: started items are finished before fresh ones begin.
    started: Mapped[bool] = mapped_column(Boolean, default=False)
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    is_done: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The automated-labeling model's vote on this item (class index and calibrated probability), written by
    #: each round for items nobody has started; ``None`` without a model vote (see ``jobs.redundancy``).
    model_label: Mapped[int | None] = mapped_column(Integer, nullable=True)
    model_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The same model's calibrated probability of every label (job label order), the posterior's prior.
    model_proba: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)


# Matches next-task's ORDER BY (started items first, then by priority, then in dataset order), so picking a
# task reads the first few index entries instead of sorting every open item.
Index(
    "ix_job_items_routing",
    JobItem.job_id,
    JobItem.is_done,
    JobItem.started.desc(),
    JobItem.priority.desc(),
    JobItem.item_id,
)


class TaskLease(Base):
    """One item held for one worker until ``expires_at``."""

    __tablename__ = "task_leases"
    __table_args__ = (
        Index(
            "uq_task_leases_one_active",
            "job_id",
            "item_id",
            "worker_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_task_leases_expiry", "job_id", "state", "expires_at"),
        # A worker's live leases in the order next-task reads them, without walking their whole history.
        Index(
            "ix_task_leases_held",
            "job_id",
            "worker_id",
            "leased_at",
            "id",
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_task_leases_job_worker_item", "job_id", "worker_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"))
    state: Mapped[LeaseState] = mapped_column(_enum(LeaseState), default=LeaseState.ACTIVE)
    leased_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Judgment(Base):
    """One worker's answer on one item; rows are never updated or deleted.

    A worker who undoes an answer appends a new revision with no label (a withdrawal) and may answer again
    with a later revision: the worker's effective answer is their highest revision, and there is only ever
    one per worker and item, which the unique revision number guarantees.
    """

    __tablename__ = "judgments"
    __table_args__ = (
        UniqueConstraint("job_id", "worker_id", "idempotency_key", name="uq_judgments_idempotency"),
        UniqueConstraint("job_id", "item_id", "worker_id", "revision", name="uq_judgments_revision"),
        Index("ix_judgments_job_item", "job_id", "item_id"),
        Index("ix_judgments_job_worker", "job_id", "worker_id", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="RESTRICT"))
    lease_id: Mapped[int | None] = mapped_column(ForeignKey("task_leases.id", ondelete="SET NULL"))
    #: None marks a withdrawal (undo) of the worker's previous revision.
    label: Mapped[str | None] = mapped_column(String(256))
    revision: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    time_spent_s: Mapped[float | None] = mapped_column(Float)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    submitted_at: Mapped[datetime] = _created()
    iteration: Mapped[int] = mapped_column(Integer, default=0)


class ConsolidatedLabel(Base):
    """The current answer for an item in a job, human-consolidated or machine-labeled."""

    __tablename__ = "consolidated_labels"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(256))
    class_index: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(32))
    human_annotated: Mapped[bool] = mapped_column(Boolean)
    judgment_count: Mapped[int] = mapped_column(Integer, default=0)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = _created()


class WorkerSkill(Base):
    """Per-worker quality estimated by consolidation (accuracy and confusion matrix)."""

    __tablename__ = "worker_skills"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True)
    method: Mapped[str] = mapped_column(String(32))
    accuracy: Mapped[float] = mapped_column(Float)
    gold_accuracy: Mapped[float | None] = mapped_column(Float)
    confusion: Mapped[list[Any] | None] = mapped_column()
    judgment_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = _created()


# --- models and background work ------------------------------------------------------------------------------


class ModelVersion(Base):
    """A trained model artifact and its card."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(String(32))  # "auto-label" or "trained"
    model_type: Mapped[str] = mapped_column(String(64))
    artifact_uri: Mapped[str] = mapped_column(Text)
    labels: Mapped[list[Any]] = mapped_column()
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    training_data_hash: Mapped[str | None] = mapped_column(String(64))
    training_size: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()


class AutoLabelRound(Base):
    """One automated-labeling round: what was trained, the chosen threshold and what it labeled."""

    __tablename__ = "auto_label_rounds"
    __table_args__ = (UniqueConstraint("job_id", "round_number", name="uq_auto_label_rounds_job_round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    round_number: Mapped[int] = mapped_column(Integer)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    human_labels_used: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float | None] = mapped_column(Float)
    validation_accuracy: Mapped[float | None] = mapped_column(Float)
    validation_lower_bound: Mapped[float | None] = mapped_column(Float)
    items_machine_labeled: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _created()


class Work(Base):
    """A unit of background work (consolidate, auto-label round, train), claimed by one runner at a time."""

    __tablename__ = "work"
    __table_args__ = (Index("ix_work_claim", "state", "run_after", "priority"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[WorkState] = mapped_column(_enum(WorkState), default=WorkState.QUEUED)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = _created()
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = _created()


# --- labels out: the feed of final labels and the webhook outbox (jobs.label_feed) ---------------------------


class LabelEvent(Base):
    """A job item's label became final (or a final one changed). Written by triggers (migration 0009), so
    every writer of labels, the hot path's PostgreSQL functions included, feeds it; ``seq`` is the order
    readers see, given by ``jobs.label_feed.sequence_events`` in commit order."""

    __tablename__ = "label_events"
    __table_args__ = (
        Index("ix_label_events_job_seq", "job_id", "seq"),
        Index(
            "ix_label_events_unsequenced", "id", sqlite_where=text("seq IS NULL"), postgresql_where=text("seq IS NULL")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[datetime] = _created()


class Webhook(Base):
    """A URL that receives each final label of a job as its output-manifest line."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[datetime] = _created()


class WebhookDelivery(Base):
    """One label event owed to one webhook: the durable outbox. Sent until the receiver answers 2xx."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            sqlite_where=text("delivered_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("label_events.id", ondelete="CASCADE"), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


#: ``consolidated_labels.method`` of a label an admin set by hand; no consolidation, vote or round replaces it.
ADJUDICATED = "adjudicated"


class LabelAdjudication(Base):
    """An admin's correction of one job item's label, kept as history: who, when, from what, to what.

    The corrected label itself lives in ``consolidated_labels`` with method :data:`ADJUDICATED`; database
    triggers (migration 0010) keep every other writer (per-submit vote, consolidation, machine labels) from
    replacing it, so the rule holds on every path, the PostgreSQL hot-path functions included.
    """

    __tablename__ = "label_adjudications"
    __table_args__ = (Index("ix_label_adjudications_job_item", "job_id", "item_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id", ondelete="RESTRICT"))
    label: Mapped[str | None] = mapped_column(String(256))
    previous_label: Mapped[str | None] = mapped_column(String(256))
    previous_method: Mapped[str | None] = mapped_column(String(32))
    previous_confidence: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


class QualitySnapshot(Base):
    """The job's estimated accuracy and the human answers spent at one moment: the points of its cost curve.

    Written after each full consolidation and automated-labeling round, so the curve needs no replay.
    """

    __tablename__ = "quality_snapshots"
    __table_args__ = (Index("ix_quality_snapshots_job_created", "job_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    answers_spent: Mapped[int] = mapped_column(Integer)
    items_labeled: Mapped[int] = mapped_column(Integer)
    machine_labeled: Mapped[int] = mapped_column(Integer)
    estimated_accuracy: Mapped[float | None] = mapped_column(Float)
    accuracy_low: Mapped[float | None] = mapped_column(Float)
    accuracy_high: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = _created()

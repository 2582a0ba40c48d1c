"""labels out: a feed of final labels (filled by triggers), webhooks and their durable outbox

Why triggers: a label becomes final in many places (the hot path's per-submit vote, in Python and in the
PostgreSQL functions; full consolidation; machine labels; an item marked done after its label was written).
One rule in the database sees them all, in the writer's own transaction, so no path can forget it and an
event exists exactly when its label was committed. The rule: an event when a non-gold item is done and has a
label, i.e. when the label row is inserted for a done item, when a done item's label changes, and when an
item with a label becomes done.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"
_SQLITE_DONE = (
    "EXISTS (SELECT 1 FROM job_items ji WHERE ji.job_id = NEW.job_id AND ji.item_id = NEW.item_id "
    "AND ji.is_done AND NOT ji.is_gold)"
)
_SQLITE_EVENT = (
    f"INSERT INTO label_events (job_id, item_id, created_at) VALUES (NEW.job_id, NEW.item_id, {_SQLITE_NOW});"
)
_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER gs_label_event_on_insert AFTER INSERT ON consolidated_labels
        WHEN {_SQLITE_DONE} BEGIN {_SQLITE_EVENT} END""",
    f"""CREATE TRIGGER gs_label_event_on_change AFTER UPDATE ON consolidated_labels
        WHEN (OLD.class_index IS NOT NEW.class_index OR OLD.label IS NOT NEW.label) AND {_SQLITE_DONE}
        BEGIN {_SQLITE_EVENT} END""",
    f"""CREATE TRIGGER gs_label_event_on_done AFTER UPDATE OF is_done ON job_items
        WHEN NEW.is_done AND NOT OLD.is_done AND NOT NEW.is_gold AND EXISTS (
            SELECT 1 FROM consolidated_labels cl WHERE cl.job_id = NEW.job_id AND cl.item_id = NEW.item_id)
        BEGIN {_SQLITE_EVENT} END""",
)

_PG_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION groundswell_label_event_on_label() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO label_events (job_id, item_id, created_at)
        SELECT NEW.job_id, NEW.item_id, clock_timestamp() FROM job_items ji
        WHERE ji.job_id = NEW.job_id AND ji.item_id = NEW.item_id AND ji.is_done AND NOT ji.is_gold;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION groundswell_label_event_on_done() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO label_events (job_id, item_id, created_at)
        SELECT NEW.job_id, NEW.item_id, clock_timestamp() FROM consolidated_labels cl
        WHERE cl.job_id = NEW.job_id AND cl.item_id = NEW.item_id;
        RETURN NULL;
    END $$""",
)
_PG_TRIGGERS = (
    """CREATE TRIGGER gs_label_event_on_insert AFTER INSERT ON consolidated_labels
        FOR EACH ROW EXECUTE FUNCTION groundswell_label_event_on_label()""",
    """CREATE TRIGGER gs_label_event_on_change AFTER UPDATE ON consolidated_labels
        FOR EACH ROW WHEN (OLD.class_index IS DISTINCT FROM NEW.class_index OR OLD.label IS DISTINCT FROM NEW.label)
        EXECUTE FUNCTION groundswell_label_event_on_label()""",
    """CREATE TRIGGER gs_label_event_on_done AFTER UPDATE OF is_done ON job_items
        FOR EACH ROW WHEN (NEW.is_done AND NOT OLD.is_done AND NOT NEW.is_gold)
        EXECUTE FUNCTION groundswell_label_event_on_done()""",
)
_TRIGGERS = (
    ("gs_label_event_on_insert", "consolidated_labels"),
    ("gs_label_event_on_change", "consolidated_labels"),
    ("gs_label_event_on_done", "job_items"),
)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("webhook_secret", sa.String(length=64), nullable=True))
    op.create_table(
        "label_events",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("item_id", _BIG_ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_label_events_job_id_jobs"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_label_events_item_id_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_events")),
        sa.UniqueConstraint("seq", name=op.f("uq_label_events_seq")),
    )
    op.create_index("ix_label_events_job_seq", "label_events", ["job_id", "seq"])
    op.create_index(
        "ix_label_events_unsequenced",
        "label_events",
        ["id"],
        sqlite_where=sa.text("seq IS NULL"),
        postgresql_where=sa.text("seq IS NULL"),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_webhooks_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index(op.f("ix_webhooks_job_id"), "webhooks", ["job_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("event_id", _BIG_ID, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["webhooks.id"], name=op.f("fk_webhook_deliveries_webhook_id_webhooks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["label_events.id"],
            name=op.f("fk_webhook_deliveries_event_id_label_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("webhook_id", "event_id", name=op.f("uq_webhook_deliveries_webhook_id")),
    )
    op.create_index(op.f("ix_webhook_deliveries_event_id"), "webhook_deliveries", ["event_id"])
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        sqlite_where=sa.text("delivered_at IS NULL"),
        postgresql_where=sa.text("delivered_at IS NULL"),
    )
    statements = _PG_FUNCTIONS + _PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}" if postgres else f"DROP TRIGGER IF EXISTS {name}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS groundswell_label_event_on_label()")
        op.execute("DROP FUNCTION IF EXISTS groundswell_label_event_on_done()")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_table("label_events")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("webhook_secret")

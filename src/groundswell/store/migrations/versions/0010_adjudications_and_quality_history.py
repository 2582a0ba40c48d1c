"""label corrections by admins (adjudications) that nothing overwrites, and the job's quality history

Why a trigger guards adjudicated labels: labels are written on many paths (the per-submit vote in Python and
in the PostgreSQL hot-path functions, full consolidation, machine labels). A BEFORE UPDATE rule in the
database skips any update that would replace an adjudicated label with anything but another adjudication, on
every path at once. Deletes are guarded where they are issued (only the undo of a vote and consolidation's
clean-up delete labels), since a BEFORE DELETE rule would also block the cascade when a job is deleted.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_SQLITE_GUARD = """CREATE TRIGGER gs_keep_adjudicated BEFORE UPDATE ON consolidated_labels
    WHEN OLD.method = 'adjudicated' AND NEW.method IS NOT 'adjudicated'
    BEGIN SELECT RAISE(IGNORE); END"""
_PG_GUARD = (
    """CREATE OR REPLACE FUNCTION groundswell_keep_adjudicated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER gs_keep_adjudicated BEFORE UPDATE ON consolidated_labels
        FOR EACH ROW WHEN (OLD.method = 'adjudicated' AND NEW.method IS DISTINCT FROM 'adjudicated')
        EXECUTE FUNCTION groundswell_keep_adjudicated()""",
)


def upgrade() -> None:
    op.create_table(
        "label_adjudications",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("item_id", _BIG_ID, nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=True),
        sa.Column("previous_label", sa.String(length=256), nullable=True),
        sa.Column("previous_method", sa.String(length=32), nullable=True),
        sa.Column("previous_confidence", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_label_adjudications_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_label_adjudications_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["workers.id"], name=op.f("fk_label_adjudications_worker_id_workers"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_adjudications")),
    )
    op.create_index("ix_label_adjudications_job_item", "label_adjudications", ["job_id", "item_id"])
    op.create_table(
        "quality_snapshots",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("answers_spent", sa.Integer(), nullable=False),
        sa.Column("items_labeled", sa.Integer(), nullable=False),
        sa.Column("machine_labeled", sa.Integer(), nullable=False),
        sa.Column("estimated_accuracy", sa.Float(), nullable=True),
        sa.Column("accuracy_low", sa.Float(), nullable=True),
        sa.Column("accuracy_high", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_quality_snapshots_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_snapshots")),
    )
    op.create_index("ix_quality_snapshots_job_created", "quality_snapshots", ["job_id", "created_at"])
    statements = _PG_GUARD if op.get_bind().dialect.name == "postgresql" else (_SQLITE_GUARD,)
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS gs_keep_adjudicated ON consolidated_labels")
        op.execute("DROP FUNCTION IF EXISTS groundswell_keep_adjudicated()")
    else:
        op.execute("DROP TRIGGER IF EXISTS gs_keep_adjudicated")
    op.drop_table("quality_snapshots")
    op.drop_table("label_adjudications")

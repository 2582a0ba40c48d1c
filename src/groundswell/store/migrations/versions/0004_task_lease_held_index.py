"""a partial index for the leases a worker holds now

Next-task reads the caller's active leases on every request. The (job, worker, item) index made that walk
every lease the worker ever had in the job, so the cost grew with their history; this index holds only active
leases, in the order the query reads them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_task_leases_held",
        "task_leases",
        ["job_id", "worker_id", "leased_at", "id"],
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    )


def downgrade() -> None:
    op.drop_index("ix_task_leases_held", table_name="task_leases")

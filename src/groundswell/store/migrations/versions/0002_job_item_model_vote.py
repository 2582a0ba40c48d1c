"""job items carry the auto-label model's vote (predicted class and calibrated probability)

The automated-labeling round writes them for open items; dynamic redundancy reads them from the row the
submit path has already locked, so the model can count as one more voter at no extra query.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_items") as batch:
        batch.add_column(sa.Column("model_label", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("model_confidence", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_items") as batch:
        batch.drop_column("model_confidence")
        batch.drop_column("model_label")

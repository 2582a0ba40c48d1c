"""job items carry the auto-label model's whole calibrated distribution over the labels

The model's vote (0002) keeps only its top class and probability; dynamic redundancy's posterior uses the
whole distribution as the item's prior (which of the other labels the model leans to matters on 3 classes).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_items") as batch:
        batch.add_column(sa.Column("model_proba", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_items") as batch:
        batch.drop_column("model_proba")

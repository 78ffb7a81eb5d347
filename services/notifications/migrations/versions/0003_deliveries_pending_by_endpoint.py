"""index of pending deliveries per endpoint, for the dispatcher's per-subject ordering

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_pending_by_endpoint",
        "deliveries",
        ["endpoint_id", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_deliveries_pending_by_endpoint",
        table_name="deliveries",
        postgresql_where=sa.text("status = 'pending'"),
    )

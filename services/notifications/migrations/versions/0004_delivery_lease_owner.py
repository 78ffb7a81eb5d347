"""who holds a delivery's lease, so a restarted dispatcher takes its in-flight work back at once

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("leased_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("deliveries", "leased_by")

"""when a failing endpoint may be probed, and the Retry-After a delivery's receiver asked for,
so that a receiver back from an outage gets what waits at once

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("endpoints", sa.Column("probe_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("deliveries", sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("deliveries", "not_before")
    op.drop_column("endpoints", "probe_at")

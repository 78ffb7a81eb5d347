"""the subject on each delivery, so the dispatcher's ordering check reads one table

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("subject", sa.String(length=500), nullable=True))
    op.execute(
        "UPDATE deliveries d SET subject = ev.subject FROM received_events ev"
        " WHERE ev.id = d.event_row_id"
    )
    op.drop_index(
        "ix_deliveries_pending_by_endpoint", table_name="deliveries", postgresql_where=PENDING
    )
    op.create_index(
        "ix_deliveries_pending_by_subject",
        "deliveries",
        ["endpoint_id", "subject", "id"],
        unique=False,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_deliveries_pending_by_subject", table_name="deliveries", postgresql_where=PENDING
    )
    op.create_index(
        "ix_deliveries_pending_by_endpoint",
        "deliveries",
        ["endpoint_id", "id"],
        unique=False,
        postgresql_where=PENDING,
    )
    op.drop_column("deliveries", "subject")

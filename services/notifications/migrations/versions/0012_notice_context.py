"""received_events.context and inbox_entries.context: what an event is about, by name

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("received_events", "inbox_entries"):
        op.add_column(
            table,
            sa.Column("context", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        )


def downgrade() -> None:
    for table in ("inbox_entries", "received_events"):
        op.drop_column(table, "context")

"""the prefix of a receiver's answer on each attempt; indexes for the dispatcher's caps on the
attempts in flight per endpoint and per delegation

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEASED = sa.text("status = 'pending' AND leased_by IS NOT NULL")


def upgrade() -> None:
    op.add_column("delivery_attempts", sa.Column("response_body", sa.Text(), nullable=True))
    op.create_index(
        "ix_deliveries_leased_by_endpoint", "deliveries", ["endpoint_id"], postgresql_where=LEASED
    )
    op.create_index(
        "ix_deliveries_leased_by_delegation",
        "deliveries",
        ["delegation_code"],
        postgresql_where=LEASED,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_leased_by_delegation", table_name="deliveries")
    op.drop_index("ix_deliveries_leased_by_endpoint", table_name="deliveries")
    op.drop_column("delivery_attempts", "response_body")

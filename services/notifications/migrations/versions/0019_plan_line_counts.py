"""plan_line_counts: a plan's action lines per status, kept with the plan_nodes read model

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plan_line_counts",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "status", name=op.f("pk_plan_line_counts")),
    )
    # The lines taken in so far, counted once; from here on the intake keeps the counts.
    op.execute(
        """
        INSERT INTO plan_line_counts (plan_id, status, lines)
        SELECT plan_id, status, count(*) FROM plan_nodes
        WHERE kind = 'action_line' AND status IS NOT NULL
        GROUP BY plan_id, status
        """
    )


def downgrade() -> None:
    op.drop_table("plan_line_counts")

"""plans.time_zone (whose "today" bounds effective dates) and journal_corrections

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
    op.add_column(
        "plans", sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC")
    )
    op.create_table(
        "journal_corrections",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("journal_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("action_line_id", sa.Uuid(), nullable=False),
        sa.Column("old_effective_date", sa.Date(), nullable=False),
        sa.Column("new_effective_date", sa.Date(), nullable=False),
        sa.Column("line_version", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_corrections")),
        sa.ForeignKeyConstraint(
            ["journal_entry_id"],
            ["status_journal.id"],
            name=op.f("fk_journal_corrections_journal_entry_id_status_journal"),
        ),
        sa.ForeignKeyConstraint(
            ["action_line_id"],
            ["action_lines.id"],
            name=op.f("fk_journal_corrections_action_line_id_action_lines"),
        ),
    )
    op.create_index(
        op.f("ix_journal_corrections_journal_entry_id"),
        "journal_corrections",
        ["journal_entry_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("journal_corrections")
    op.drop_column("plans", "time_zone")

"""meeting_figures (plans' published figures of a meeting) and statement_drafts

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meeting_figures",
        sa.Column("figure_id", sa.Uuid(), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("scope_title", sa.String(500), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Float(), nullable=False),
        sa.Column("completed", sa.Float(), nullable=False),
        sa.Column("completion_percent", sa.Float(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("figure_id", name=op.f("pk_meeting_figures")),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_meeting_figures_meeting_id_meetings")
        ),
    )
    op.create_index(
        op.f("ix_meeting_figures_meeting_id"), "meeting_figures", ["meeting_id"], unique=False
    )
    op.create_table(
        "statement_drafts",
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("figures", postgresql.JSONB(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("meeting_id", "kind", name=op.f("pk_statement_drafts")),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_statement_drafts_meeting_id_meetings")
        ),
    )


def downgrade() -> None:
    op.drop_table("statement_drafts")
    op.drop_table("meeting_figures")

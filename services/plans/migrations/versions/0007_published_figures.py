"""published_figures: every figure that left the system, with what it was derived from

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "published_figures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("scope_title", sa.String(500), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("journal_position", sa.BigInteger(), nullable=False),
        sa.Column("correction_position", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("counted", sa.Float(), nullable=False),
        sa.Column("completed", sa.Float(), nullable=False),
        sa.Column("completion_percent", sa.Float(), nullable=False),
        sa.Column(
            "published_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_figures")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_published_figures_plan_id_plans")
        ),
        sa.ForeignKeyConstraint(
            ["rule_version"],
            ["counting_rules.version"],
            name=op.f("fk_published_figures_rule_version_counting_rules"),
        ),
        sa.UniqueConstraint(
            "plan_id",
            "scope",
            "rule_version",
            "as_of",
            "journal_position",
            "correction_position",
            name="uq_published_figures_inputs",
        ),
    )
    op.create_index(
        op.f("ix_published_figures_plan_id"), "published_figures", ["plan_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("published_figures")

"""initial schema

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_messaging_tables, drop_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("partners", sa.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("predecessor_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["predecessor_id"], ["plans.id"], name=op.f("fk_plans_predecessor_id_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("code", name=op.f("uq_plans_code")),
    )
    op.create_table(
        "sections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("ordering_key", sa.String(length=100), nullable=False),
        sa.Column("path", sa.ARRAY(sa.Uuid()), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["sections.id"], name=op.f("fk_sections_parent_id_sections")
        ),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_sections_plan_id_plans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sections")),
        sa.UniqueConstraint("plan_id", "code", name=op.f("uq_sections_plan_id")),
    )
    op.create_index(op.f("ix_sections_plan_id"), "sections", ["plan_id"], unique=False)
    op.create_table(
        "action_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("section_id", sa.Uuid(), nullable=True),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("ordering_key", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("leads", sa.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("tags", sa.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("weight", sa.Numeric(precision=10, scale=4, asdecimal=False), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_action_lines_plan_id_plans")
        ),
        sa.ForeignKeyConstraint(
            ["section_id"], ["sections.id"], name=op.f("fk_action_lines_section_id_sections")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_lines")),
        sa.UniqueConstraint("plan_id", "code", name=op.f("uq_action_lines_plan_id")),
    )
    op.create_index(op.f("ix_action_lines_plan_id"), "action_lines", ["plan_id"], unique=False)
    op.create_index(
        op.f("ix_action_lines_section_id"), "action_lines", ["section_id"], unique=False
    )
    op.create_table(
        "status_journal",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("action_line_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=False),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("source_kind", sa.String(length=30), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["action_line_id"],
            ["action_lines.id"],
            name=op.f("fk_status_journal_action_line_id_action_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_status_journal_plan_id_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_journal")),
    )
    op.create_index(
        "ix_status_journal_line_effective",
        "status_journal",
        ["action_line_id", "effective_date"],
        unique=False,
    )
    op.create_index(op.f("ix_status_journal_plan_id"), "status_journal", ["plan_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_status_journal_plan_id"), table_name="status_journal")
    op.drop_index("ix_status_journal_line_effective", table_name="status_journal")
    op.drop_table("status_journal")
    op.drop_index(op.f("ix_action_lines_section_id"), table_name="action_lines")
    op.drop_index(op.f("ix_action_lines_plan_id"), table_name="action_lines")
    op.drop_table("action_lines")
    op.drop_index(op.f("ix_sections_plan_id"), table_name="sections")
    op.drop_table("sections")
    op.drop_table("plans")
    drop_messaging_tables()

"""meetings decisions briefings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:03:34.755954
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "known_action_lines",
        sa.Column("action_line_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("section_path", sa.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("initial_status", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("action_line_id", name=op.f("pk_known_action_lines")),
    )
    op.create_index(
        op.f("ix_known_action_lines_plan_id"), "known_action_lines", ["plan_id"], unique=False
    )
    op.create_table(
        "known_plans",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", name=op.f("pk_known_plans")),
    )
    op.create_table(
        "known_sections",
        sa.Column("section_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("ordering_key", sa.String(length=100), nullable=False),
        sa.Column("path", sa.ARRAY(sa.Uuid()), nullable=False),
        sa.PrimaryKeyConstraint("section_id", name=op.f("pk_known_sections")),
    )
    op.create_index(op.f("ix_known_sections_plan_id"), "known_sections", ["plan_id"], unique=False)
    op.create_table(
        "known_status_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("action_line_id", sa.Uuid(), nullable=False),
        sa.Column("old_status", sa.String(length=20), nullable=False),
        sa.Column("new_status", sa.String(length=20), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_status_changes")),
    )
    op.create_index(
        op.f("ix_known_status_changes_action_line_id"),
        "known_status_changes",
        ["action_line_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_known_status_changes_plan_id"), "known_status_changes", ["plan_id"], unique=False
    )
    op.create_table(
        "meetings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("series", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("level", sa.String(length=100), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("place", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("co_chairs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("concluded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancellation_reason", sa.Text(), nullable=True),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
        sa.UniqueConstraint("seq", name=op.f("uq_meetings_seq")),
    )
    op.create_index(
        "ix_meetings_series_starts_at", "meetings", ["series", "starts_at"], unique=False
    )
    op.create_index(op.f("ix_meetings_starts_at"), "meetings", ["starts_at"], unique=False)
    op.create_table(
        "agenda_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("plan_ids", sa.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("action_line_ids", sa.ARRAY(sa.Uuid()), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_agenda_items_meeting_id_meetings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_items")),
    )
    op.create_index(
        op.f("ix_agenda_items_meeting_id"), "agenda_items", ["meeting_id"], unique=False
    )
    op.create_table(
        "briefing_snapshots",
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "frozen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_briefing_snapshots_meeting_id_meetings")
        ),
        sa.PrimaryKeyConstraint("meeting_id", name=op.f("pk_briefing_snapshots")),
    )
    op.create_table(
        "participants",
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("delegation", sa.String(length=10), nullable=False),
        sa.Column("attendance", sa.String(length=20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_participants_meeting_id_meetings")
        ),
        sa.PrimaryKeyConstraint("meeting_id", "delegation", name=op.f("pk_participants")),
    )
    op.create_index(
        op.f("ix_participants_delegation"), "participants", ["delegation"], unique=False
    )
    op.create_table(
        "plans_under_review",
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_plans_under_review_meeting_id_meetings")
        ),
        sa.PrimaryKeyConstraint("meeting_id", "plan_id", name=op.f("pk_plans_under_review")),
    )
    op.create_index(
        op.f("ix_plans_under_review_plan_id"), "plans_under_review", ["plan_id"], unique=False
    )
    op.create_table(
        "postponements",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("old_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("new_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("new_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "postponed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_postponements_meeting_id_meetings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postponements")),
    )
    op.create_index(
        op.f("ix_postponements_meeting_id"), "postponements", ["meeting_id"], unique=False
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("agenda_item_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("adopted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("review_results", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("party", sa.String(length=100), nullable=True),
        sa.Column("follow_up", sa.String(length=20), nullable=True),
        sa.Column("fulfilled_on", sa.Date(), nullable=True),
        sa.Column("fulfilment_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agenda_item_id"],
            ["agenda_items.id"],
            name=op.f("fk_decisions_agenda_item_id_agenda_items"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_decisions_meeting_id_meetings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.UniqueConstraint("seq", name=op.f("uq_decisions_seq")),
    )
    op.create_index(op.f("ix_decisions_meeting_id"), "decisions", ["meeting_id"], unique=False)
    op.create_index(op.f("ix_decisions_party"), "decisions", ["party"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_decisions_party"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_meeting_id"), table_name="decisions")
    op.drop_table("decisions")
    op.drop_index(op.f("ix_postponements_meeting_id"), table_name="postponements")
    op.drop_table("postponements")
    op.drop_index(op.f("ix_plans_under_review_plan_id"), table_name="plans_under_review")
    op.drop_table("plans_under_review")
    op.drop_index(op.f("ix_participants_delegation"), table_name="participants")
    op.drop_table("participants")
    op.drop_table("briefing_snapshots")
    op.drop_index(op.f("ix_agenda_items_meeting_id"), table_name="agenda_items")
    op.drop_table("agenda_items")
    op.drop_index(op.f("ix_meetings_starts_at"), table_name="meetings")
    op.drop_index("ix_meetings_series_starts_at", table_name="meetings")
    op.drop_table("meetings")
    op.drop_index(op.f("ix_known_status_changes_plan_id"), table_name="known_status_changes")
    op.drop_index(op.f("ix_known_status_changes_action_line_id"), table_name="known_status_changes")
    op.drop_table("known_status_changes")
    op.drop_index(op.f("ix_known_sections_plan_id"), table_name="known_sections")
    op.drop_table("known_sections")
    op.drop_table("known_plans")
    op.drop_index(op.f("ix_known_action_lines_plan_id"), table_name="known_action_lines")
    op.drop_table("known_action_lines")

"""Subscriptions addressed to a grouping or a role; roles and their dated assignments; what
the meetings read model needs for meeting digests; one row per digest sent

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("subscriptions", "delegation_code", nullable=True)
    op.add_column("subscriptions", sa.Column("grouping", sa.String(50), nullable=True))
    op.add_column("subscriptions", sa.Column("role", sa.String(100), nullable=True))
    op.create_check_constraint(
        op.f("ck_subscriptions_one_audience"),
        "subscriptions",
        "num_nonnulls(delegation_code, grouping, role) = 1",
    )
    op.create_table(
        "roles",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("single_holder", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_table(
        "role_assignments",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("role", sa.String(100), sa.ForeignKey("roles.name"), nullable=False),
        sa.Column("delegation_code", sa.String(10), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("meeting_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("ix_role_assignments_role", "role_assignments", ["role", "meeting_id"])
    # The meeting-scoped role whose holders the meetings service's events name.
    op.execute(
        "INSERT INTO roles (name, single_holder, description) VALUES ('co-chairs', false, "
        "'The co-chairs of the meeting an event is about, as the meetings service named them')"
    )
    op.add_column("meetings", sa.Column("timezone", sa.String(64), nullable=True))
    op.add_column(
        "meetings",
        sa.Column(
            "plans_under_review",
            postgresql.ARRAY(sa.Uuid()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    # Meetings taken in before: their time zone, plans and co-chairs from the scheduling event
    # kept in received_events.
    op.execute(
        """
        UPDATE meetings m SET timezone = e.data->>'timezone',
            plans_under_review = ARRAY(
                SELECT jsonb_array_elements_text(coalesce(e.data->'plans_under_review', '[]'))
            )::uuid[]
        FROM received_events e
        WHERE e.event_type = 'org.accord.meetings.meeting.scheduled'
            AND (e.data->>'meeting_id')::uuid = m.id
        """
    )
    op.execute(
        """
        INSERT INTO role_assignments (role, delegation_code, valid_from, meeting_id)
        SELECT 'co-chairs', c->>'delegation', DATE '0001-01-01', (e.data->>'meeting_id')::uuid
        FROM received_events e,
            jsonb_array_elements(coalesce(e.data->'co_chairs', '[]')) c
        WHERE e.event_type = 'org.accord.meetings.meeting.scheduled'
        """
    )
    op.create_table(
        "digests",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("delegation_code", sa.String(10), nullable=False, index=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column(
            "event_row_id", sa.BigInteger(), sa.ForeignKey("received_events.id"), nullable=False
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_table("digests")
    op.drop_column("meetings", "plans_under_review")
    op.drop_column("meetings", "timezone")
    op.drop_index("ix_role_assignments_role", "role_assignments")
    op.drop_table("role_assignments")
    op.drop_table("roles")
    op.drop_constraint(op.f("ck_subscriptions_one_audience"), "subscriptions", type_="check")
    op.drop_column("subscriptions", "role")
    op.drop_column("subscriptions", "grouping")
    op.execute("DELETE FROM subscriptions WHERE delegation_code IS NULL")
    op.alter_column("subscriptions", "delegation_code", nullable=False)

"""delegations, subscriptions, webhooks, inbox; ASEAN reference data

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Reference data as of this revision: ASEAN's members with the dates they joined, the UN and
# the ASEAN Secretariat. Later changes come through the API, not by editing this list.
DELEGATIONS = [
    ("IDN", "Indonesia", "Asia/Jakarta", "1967-08-08"),
    ("MYS", "Malaysia", "Asia/Kuala_Lumpur", "1967-08-08"),
    ("PHL", "Philippines", "Asia/Manila", "1967-08-08"),
    ("SGP", "Singapore", "Asia/Singapore", "1967-08-08"),
    ("THA", "Thailand", "Asia/Bangkok", "1967-08-08"),
    ("BRN", "Brunei Darussalam", "Asia/Brunei", "1984-01-07"),
    ("VNM", "Viet Nam", "Asia/Ho_Chi_Minh", "1995-07-28"),
    ("LAO", "Lao PDR", "Asia/Vientiane", "1997-07-23"),
    ("MMR", "Myanmar", "Asia/Yangon", "1997-07-23"),
    ("KHM", "Cambodia", "Asia/Phnom_Penh", "1999-04-30"),
    ("TLS", "Timor-Leste", "Asia/Dili", "2025-10-26"),
    ("UN", "United Nations", "America/New_York", None),
    ("ASEC", "ASEAN Secretariat", "Asia/Jakarta", None),
]


def _seed() -> None:
    delegations = sa.table(
        "delegations",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("timezone", sa.String),
        sa.column("digest_hour", sa.Integer),
        sa.column("stream_seq", sa.BigInteger),
    )
    memberships = sa.table(
        "memberships",
        sa.column("grouping", sa.String),
        sa.column("delegation_code", sa.String),
        sa.column("valid_from", sa.Date),
    )
    op.bulk_insert(
        delegations,
        [
            {"code": c, "name": n, "timezone": tz, "digest_hour": 9, "stream_seq": 0}
            for c, n, tz, _ in DELEGATIONS
        ],
    )
    op.bulk_insert(
        memberships,
        [
            {"grouping": "ASEAN", "delegation_code": c, "valid_from": date.fromisoformat(d)}
            for c, _, _, d in DELEGATIONS
            if d is not None
        ],
    )


def upgrade() -> None:
    op.create_table(
        "delegations",
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("contact", sa.String(length=320), nullable=True),
        sa.Column("digest_hour", sa.Integer(), nullable=False),
        sa.Column("stream_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_daily_digest_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_delegations")),
    )
    op.create_table(
        "meetings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("series", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
    )
    op.create_index(op.f("ix_meetings_series"), "meetings", ["series"], unique=False)
    op.create_table(
        "plan_nodes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("section_path", sa.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("tags", sa.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_nodes")),
    )
    op.create_index(op.f("ix_plan_nodes_plan_id"), "plan_nodes", ["plan_id"], unique=False)
    op.create_table(
        "received_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=True),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_received_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_received_events_event_id")),
    )
    op.create_index(
        op.f("ix_received_events_plan_id"), "received_events", ["plan_id"], unique=False
    )
    op.create_table(
        "digest_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delegation_code", sa.String(length=10), nullable=False),
        sa.Column("event_row_id", sa.BigInteger(), nullable=False),
        sa.Column("cadence", sa.String(length=20), nullable=False),
        sa.Column("channels", sa.ARRAY(sa.String(length=10)), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("digested_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["delegation_code"],
            ["delegations.code"],
            name=op.f("fk_digest_items_delegation_code_delegations"),
        ),
        sa.ForeignKeyConstraint(
            ["event_row_id"],
            ["received_events.id"],
            name=op.f("fk_digest_items_event_row_id_received_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_items")),
        sa.UniqueConstraint(
            "delegation_code", "event_row_id", "cadence", name="uq_digest_items_event"
        ),
    )
    op.create_index(
        op.f("ix_digest_items_delegation_code"), "digest_items", ["delegation_code"], unique=False
    )
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delegation_code", sa.String(length=10), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_types", sa.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=20), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["delegation_code"],
            ["delegations.code"],
            name=op.f("fk_endpoints_delegation_code_delegations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoints")),
        sa.UniqueConstraint("number", name=op.f("uq_endpoints_number")),
    )
    op.create_index(
        op.f("ix_endpoints_delegation_code"), "endpoints", ["delegation_code"], unique=False
    )
    op.create_table(
        "inbox_entries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delegation_code", sa.String(length=10), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_row_id", sa.BigInteger(), nullable=True),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("channels", sa.ARRAY(sa.String(length=10)), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["delegation_code"],
            ["delegations.code"],
            name=op.f("fk_inbox_entries_delegation_code_delegations"),
        ),
        sa.ForeignKeyConstraint(
            ["event_row_id"],
            ["received_events.id"],
            name=op.f("fk_inbox_entries_event_row_id_received_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_entries")),
        sa.UniqueConstraint("delegation_code", "event_row_id", name="uq_inbox_entries_event"),
        sa.UniqueConstraint("delegation_code", "seq", name="uq_inbox_entries_seq"),
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("grouping", sa.String(length=50), nullable=False),
        sa.Column("delegation_code", sa.String(length=10), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delegation_code"],
            ["delegations.code"],
            name=op.f("fk_memberships_delegation_code_delegations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
    )
    op.create_index(op.f("ix_memberships_grouping"), "memberships", ["grouping"], unique=False)
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delegation_code", sa.String(length=10), nullable=False),
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("target_key", sa.String(length=200), nullable=False),
        sa.Column("event_types", sa.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column("statuses", sa.ARRAY(sa.String(length=20)), nullable=False),
        sa.Column("channels", sa.ARRAY(sa.String(length=10)), nullable=False),
        sa.Column("cadence", sa.String(length=20), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["delegation_code"],
            ["delegations.code"],
            name=op.f("fk_subscriptions_delegation_code_delegations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("number", name=op.f("uq_subscriptions_number")),
    )
    op.create_index(
        op.f("ix_subscriptions_delegation_code"), "subscriptions", ["delegation_code"], unique=False
    )
    op.create_index(
        "ix_subscriptions_target", "subscriptions", ["target_kind", "target_key"], unique=False
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("event_row_id", sa.BigInteger(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("delegation_code", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("attempts_total", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_deliveries_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(
            ["event_row_id"],
            ["received_events.id"],
            name=op.f("fk_deliveries_event_row_id_received_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("event_row_id", "endpoint_id", name="uq_deliveries_event_endpoint"),
        sa.UniqueConstraint("webhook_id", name=op.f("uq_deliveries_webhook_id")),
    )
    op.create_index(
        op.f("ix_deliveries_delegation_code"), "deliveries", ["delegation_code"], unique=False
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(op.f("ix_deliveries_endpoint_id"), "deliveries", ["endpoint_id"], unique=False)
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_attempts_delivery_id_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    op.create_index(
        op.f("ix_delivery_attempts_delivery_id"), "delivery_attempts", ["delivery_id"], unique=False
    )
    op.drop_index(op.f("ix_plan_activity_plan_id"), table_name="plan_activity")
    op.drop_table("plan_activity")
    _seed()


def downgrade() -> None:
    op.create_table(
        "plan_activity",
        sa.Column(
            "id",
            sa.BIGINT(),
            sa.Identity(
                always=False,
                start=1,
                increment=1,
                minvalue=1,
                maxvalue=9223372036854775807,
                cycle=False,
                cache=1,
            ),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.VARCHAR(length=200), autoincrement=False, nullable=False),
        sa.Column("event_type", sa.VARCHAR(length=200), autoincrement=False, nullable=False),
        sa.Column("plan_id", sa.UUID(), autoincrement=False, nullable=False),
        sa.Column("subject", sa.VARCHAR(length=500), autoincrement=False, nullable=True),
        sa.Column(
            "data", postgresql.JSONB(astext_type=sa.Text()), autoincrement=False, nullable=False
        ),
        sa.Column(
            "occurred_at", postgresql.TIMESTAMP(timezone=True), autoincrement=False, nullable=False
        ),
        sa.Column(
            "received_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            autoincrement=False,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_activity")),
        sa.UniqueConstraint("event_id", name=op.f("uq_plan_activity_event_id")),
    )
    op.create_index(op.f("ix_plan_activity_plan_id"), "plan_activity", ["plan_id"], unique=False)
    op.drop_index(op.f("ix_delivery_attempts_delivery_id"), table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    op.drop_index(op.f("ix_deliveries_endpoint_id"), table_name="deliveries")
    op.drop_index(
        "ix_deliveries_due", table_name="deliveries", postgresql_where=sa.text("status = 'pending'")
    )
    op.drop_index(op.f("ix_deliveries_delegation_code"), table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_subscriptions_target", table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_delegation_code"), table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index(op.f("ix_memberships_grouping"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("inbox_entries")
    op.drop_index(op.f("ix_endpoints_delegation_code"), table_name="endpoints")
    op.drop_table("endpoints")
    op.drop_index(op.f("ix_digest_items_delegation_code"), table_name="digest_items")
    op.drop_table("digest_items")
    op.drop_index(op.f("ix_received_events_plan_id"), table_name="received_events")
    op.drop_table("received_events")
    op.drop_index(op.f("ix_plan_nodes_plan_id"), table_name="plan_nodes")
    op.drop_table("plan_nodes")
    op.drop_index(op.f("ix_meetings_series"), table_name="meetings")
    op.drop_table("meetings")
    op.drop_table("delegations")

"""contacts and email_deliveries: email as a channel

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("delegation_code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["delegation_code"],
            ["delegations.code"],
            name=op.f("fk_contacts_delegation_code_delegations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("number", name=op.f("uq_contacts_number")),
        sa.UniqueConstraint("delegation_code", "address", name="uq_contacts_delegation_address"),
    )
    op.create_index(op.f("ix_contacts_delegation_code"), "contacts", ["delegation_code"])
    op.create_table(
        "email_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("message_key", sa.String(length=100), nullable=False),
        sa.Column("notice_key", sa.String(length=300), nullable=False),
        sa.Column("event_row_id", sa.BigInteger(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("delegation_code", sa.String(length=10), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("email_subject", sa.String(length=300), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=200), nullable=True),
        sa.Column("last_smtp_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_row_id"],
            ["received_events.id"],
            name=op.f("fk_email_deliveries_event_row_id_received_events"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_email_deliveries_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_deliveries")),
        sa.UniqueConstraint("message_key", name=op.f("uq_email_deliveries_message_key")),
        sa.UniqueConstraint("notice_key", "contact_id", name="uq_email_deliveries_notice_contact"),
    )
    op.create_index(op.f("ix_email_deliveries_contact_id"), "email_deliveries", ["contact_id"])
    op.create_index(
        op.f("ix_email_deliveries_delegation_code"), "email_deliveries", ["delegation_code"]
    )
    op.create_index(
        "ix_email_deliveries_due",
        "email_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_email_deliveries_pending_by_subject",
        "email_deliveries",
        ["contact_id", "subject", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("email_deliveries")
    op.drop_table("contacts")

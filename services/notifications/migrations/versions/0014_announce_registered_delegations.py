"""announce the delegations registered before delegation.registered existed

Meetings accepts as participants only the delegations it has heard of (its read model of
notifications' delegation.registered events). Delegations registered before that event was
published are announced once here, through the outbox, so that meetings learns of them too.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.contracts import notifications as contracts
from shared.events import envelope
from shared.topics import NOTIFICATIONS_EVENTS

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    delegations = connection.execute(
        sa.text("SELECT code, name, timezone FROM delegations ORDER BY code")
    ).all()
    for code, name, timezone in delegations:
        event = envelope(
            contracts.DelegationRegistered(delegation=code, name=name, timezone=timezone),
            source=contracts.SOURCE,
            subject=f"delegations/{code}",
            partitionkey=code,
        )
        connection.execute(
            sa.text(
                "INSERT INTO outbox (event_id, topic, key, event_type, payload) "
                "VALUES (:event_id, :topic, :key, :event_type, :payload)"
            ),
            {
                "event_id": event.id,
                "topic": NOTIFICATIONS_EVENTS,
                "key": code,
                "event_type": event.type,
                "payload": event.to_bytes(),
            },
        )


def downgrade() -> None:
    pass  # announcements already published cannot be taken back, nor need to be

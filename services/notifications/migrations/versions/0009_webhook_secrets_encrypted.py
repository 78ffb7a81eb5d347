"""webhook signing secrets encrypted at rest: each endpoint's secrets become AES-GCM
ciphertexts with the id of their key; the plain-text columns are encrypted and dropped in
this same transaction (docs/decisions/0019), with the keys the service itself reads
(NOTIFICATIONS_SECRET_KEYS or NOTIFICATIONS_SECRET_KEYS_FILE)

Revision ID: 0009
Revises: 0008
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.notifications.webhooks.keyring import Keyring, Sealed

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _keyring() -> Keyring:
    # Read only when there is something to encrypt or decrypt: an empty database migrates
    # without keys (the service refuses to start without them in production anyway).
    from services.notifications.config import NotificationsSettings

    return NotificationsSettings().keyring


def upgrade() -> None:
    op.add_column("endpoints", sa.Column("secret_key_id", sa.String(64), nullable=True))
    op.add_column("endpoints", sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=True))
    op.add_column("endpoints", sa.Column("previous_secret_key_id", sa.String(64), nullable=True))
    op.add_column(
        "endpoints", sa.Column("previous_secret_ciphertext", sa.LargeBinary(), nullable=True)
    )
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, secret, previous_secret FROM endpoints")).all()
    if rows:
        keyring = _keyring()
        sealed = []
        for row in rows:
            current = keyring.seal(row.id, row.secret)
            previous = keyring.seal(row.id, row.previous_secret) if row.previous_secret else None
            sealed.append(
                {
                    "id": row.id,
                    "key_id": current.key_id,
                    "ciphertext": current.ciphertext,
                    "previous_key_id": previous.key_id if previous else None,
                    "previous_ciphertext": previous.ciphertext if previous else None,
                }
            )
        connection.execute(
            sa.text(
                "UPDATE endpoints SET secret_key_id = :key_id, secret_ciphertext = :ciphertext,"
                " previous_secret_key_id = :previous_key_id,"
                " previous_secret_ciphertext = :previous_ciphertext WHERE id = :id"
            ),
            sealed,
        )
    op.alter_column("endpoints", "secret_key_id", nullable=False)
    op.alter_column("endpoints", "secret_ciphertext", nullable=False)
    op.drop_column("endpoints", "previous_secret")
    op.drop_column("endpoints", "secret")


def downgrade() -> None:
    op.add_column("endpoints", sa.Column("secret", sa.String(length=100), nullable=True))
    op.add_column("endpoints", sa.Column("previous_secret", sa.String(length=100), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT id, secret_key_id, secret_ciphertext, previous_secret_key_id,"
            " previous_secret_ciphertext FROM endpoints"
        )
    ).all()
    if rows:
        keyring = _keyring()

        def opened(endpoint_id: uuid.UUID, key_id: str | None, data: bytes | None) -> str | None:
            if key_id is None or data is None:
                return None
            return keyring.open(endpoint_id, Sealed(key_id, data))

        connection.execute(
            sa.text(
                "UPDATE endpoints SET secret = :secret, previous_secret = :previous WHERE id = :id"
            ),
            [
                {
                    "id": row.id,
                    "secret": opened(row.id, row.secret_key_id, row.secret_ciphertext),
                    "previous": opened(
                        row.id, row.previous_secret_key_id, row.previous_secret_ciphertext
                    ),
                }
                for row in rows
            ],
        )
    op.alter_column("endpoints", "secret", nullable=False)
    for column in (
        "previous_secret_ciphertext",
        "previous_secret_key_id",
        "secret_ciphertext",
        "secret_key_id",
    ):
        op.drop_column("endpoints", column)

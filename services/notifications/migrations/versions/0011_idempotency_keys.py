"""the idempotency_keys table: Idempotency-Key claims and their answers (shared/idempotency.py)

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from shared.migrations import create_idempotency_table, drop_idempotency_table

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()

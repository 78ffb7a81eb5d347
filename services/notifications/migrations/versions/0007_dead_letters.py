"""the dead_letters table: messages the dead-letter topic refused (shared/dead_letters.py)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from shared.migrations import create_dead_letters_table, drop_dead_letters_table

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_dead_letters_table()


def downgrade() -> None:
    drop_dead_letters_table()

"""the dead_letters table: messages the dead-letter topic refused (shared/dead_letters.py)

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from shared.migrations import create_dead_letters_table, drop_dead_letters_table

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_dead_letters_table()


def downgrade() -> None:
    drop_dead_letters_table()

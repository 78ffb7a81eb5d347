"""the redrives table: the operator's record of parked messages sent back to their topic
(shared/ops/redrives.py)

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from shared.migrations import create_redrives_table, drop_redrives_table

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_redrives_table()


def downgrade() -> None:
    drop_redrives_table()

"""the redrives table: the operator's record of parked messages sent back to their topic
(shared/ops/redrives.py)

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from shared.migrations import create_redrives_table, drop_redrives_table

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_redrives_table()


def downgrade() -> None:
    drop_redrives_table()

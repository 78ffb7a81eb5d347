"""Command functions of the inbox: marking entries read. (Entries are written by whatever
tells a delegation something: see ``entries``.)"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from services.notifications.ownership import Scope, get_owned


@dataclass(frozen=True)
class MarkRead:
    entry_id: int
    scope: Scope


async def mark_read(session: AsyncSession, command: MarkRead) -> orm.InboxEntry:
    """Mark one entry read (again is harmless: it keeps its first reading time)."""
    entry = await get_owned(session, orm.InboxEntry, command.entry_id, command.scope, "inbox entry")
    entry.read_at = entry.read_at or datetime.now(UTC)
    return entry


@dataclass(frozen=True)
class MarkAllRead:
    delegation: str


async def mark_all_read(session: AsyncSession, command: MarkAllRead) -> int:
    """Returns how many entries were unread."""
    result = await session.execute(
        update(orm.InboxEntry)
        .where(
            orm.InboxEntry.delegation_code == command.delegation,
            orm.InboxEntry.read_at.is_(None),
        )
        .values(read_at=func.now())
        .returning(orm.InboxEntry.id)
    )
    return len(result.all())

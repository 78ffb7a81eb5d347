"""The read side of the inbox, as response schemas."""

from sqlalchemy import ColumnElement, Select, any_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from services.notifications.domain import Channel
from services.notifications.inbox.schemas import InboxEntryRead, UnreadCount
from services.notifications.views import of_delegation, page
from shared.pagination import Page


def on_channel(channel: Channel) -> ColumnElement[bool]:
    """The condition that an entry is on a channel (the inbox, the stream)."""
    return literal(channel.value) == any_(orm.InboxEntry.channels)


async def inbox(
    session: AsyncSession,
    delegation: str | None,
    unread_only: bool,
    limit: int,
    cursor: str | None,
) -> Page[InboxEntryRead]:
    return await page(
        session,
        _entries(delegation, unread_only),
        orm.InboxEntry.id,
        limit,
        cursor,
        InboxEntryRead.model_validate,
    )


async def unread_count(session: AsyncSession, delegation: str) -> UnreadCount:
    query = _entries(delegation, unread_only=True).with_only_columns(func.count())
    return UnreadCount(delegation_code=delegation, unread=int(await session.scalar(query) or 0))


def _entries(delegation: str | None, unread_only: bool) -> Select[orm.InboxEntry]:
    query = select(orm.InboxEntry).where(
        on_channel(Channel.INBOX), *of_delegation(orm.InboxEntry, delegation)
    )
    if unread_only:
        query = query.where(orm.InboxEntry.read_at.is_(None))
    return query

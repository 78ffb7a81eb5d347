"""The live stream: Server-Sent Events of a delegation's entries, resumable with Last-Event-ID.

The SSE id is the entry's per-delegation number (``seq``). Numbers are taken under a lock on
the delegation's row and committed in order, so "everything after N" never skips an entry that
commits late. New entries wake the stream through PostgreSQL NOTIFY (see ``wakeup``).
"""

import json
from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications import metrics, orm
from services.notifications.domain import Channel
from services.notifications.inbox.schemas import InboxEntryRead
from services.notifications.inbox.views import on_channel
from services.notifications.wakeup import Pulse

BATCH = 200


def format_event(entry: orm.InboxEntry) -> str:
    data = InboxEntryRead.model_validate(entry).model_dump_json()
    return f"id: {entry.seq}\nevent: notification\ndata: {data}\n\n"


async def current_seq(session: AsyncSession, delegation: str) -> int:
    return int(
        await session.scalar(
            select(orm.Delegation.stream_seq).where(orm.Delegation.code == delegation)
        )
        or 0
    )


async def events(
    sessions: async_sessionmaker[AsyncSession],
    pulse: Pulse,
    delegation: str,
    after: int | None,
    *,
    keepalive: float,
) -> AsyncIterator[str]:
    metrics.SSE_CONNECTIONS.inc()
    try:
        if after is None:
            async with sessions() as session:
                after = await current_seq(session, delegation)
        # Tell the client how long to wait before reconnecting, then replay what it missed.
        yield f"retry: 2000\n: stream of {json.dumps(delegation)}\n\n"
        while True:
            ticket = pulse.ticket()
            async with sessions() as session:
                entries = list(
                    await session.scalars(
                        select(orm.InboxEntry)
                        .where(
                            orm.InboxEntry.delegation_code == delegation,
                            orm.InboxEntry.seq > after,
                            on_channel(Channel.STREAM),
                        )
                        .order_by(orm.InboxEntry.seq)
                        .limit(BATCH)
                    )
                )
            for entry in entries:
                yield format_event(entry)
                after = entry.seq
            if len(entries) < BATCH:
                await Pulse.wait(ticket, keepalive)
                if not ticket.is_set():
                    yield ": keepalive\n\n"
    finally:
        metrics.SSE_CONNECTIONS.dec()

"""Inbox entries (services/notifications/inbox/entries.py) on a real PostgreSQL: each
delegation's entry takes its next stream number and its own channels, and the live streams
are woken when the transaction commits, only if an entry was written."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications import orm, wakeup
from services.notifications.inbox.entries import Notice, add_entries
from shared.db import asyncpg_dsn
from tests.support.databases import committing_sessions, migrated_database
from tests.support.stack import Infrastructure

pytestmark = pytest.mark.integration

# Long enough for a NOTIFY to reach a listener on the same machine.
HEARING = 0.3


@pytest.fixture(scope="module")
def database(infra: Infrastructure) -> str:
    return migrated_database(infra, "notifications", "accord_notifications_inbox")


@pytest.fixture
async def sessions(database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with committing_sessions(database) as sessions:
        yield sessions


@pytest.fixture
async def heard(database: str) -> AsyncIterator[list[str]]:
    """The inbox wake-ups heard so far."""
    listener = await asyncpg.connect(asyncpg_dsn(database))
    found: list[str] = []
    await listener.add_listener(wakeup.INBOX, lambda _c, _p, channel, _m: found.append(channel))
    try:
        yield found
    finally:
        await listener.close()


async def _delegations_and_event(
    sessions: async_sessionmaker[AsyncSession], count: int
) -> tuple[list[str], int]:
    codes = sorted(f"I{uuid.uuid4().hex[:8].upper()}" for _ in range(count))
    async with sessions() as session, session.begin():
        session.add_all(orm.Delegation(code=c, name=c, timezone="UTC") for c in codes)
        event = orm.ReceivedEvent(
            event_id=str(uuid.uuid4()), event_type="test", data={}, occurred_at=datetime.now(UTC)
        )
        session.add(event)
        await session.flush()
        return codes, event.id


async def _entries(
    sessions: async_sessionmaker[AsyncSession], codes: list[str]
) -> list[tuple[str, int, list[str], dict | None, bool]]:
    async with sessions() as session:
        rows = await session.execute(
            select(
                orm.InboxEntry.delegation_code,
                orm.InboxEntry.seq,
                orm.InboxEntry.channels,
                orm.InboxEntry.context,
                orm.InboxEntry.critical,
            )
            .where(orm.InboxEntry.delegation_code.in_(codes))
            .order_by(orm.InboxEntry.delegation_code, orm.InboxEntry.seq)
        )
        return [tuple(row) for row in rows]


async def test_each_delegation_gets_its_numbered_entry_and_the_streams_wake_at_commit(
    sessions: async_sessionmaker[AsyncSession], heard: list[str]
) -> None:
    codes, event = await _delegations_and_event(sessions, 3)
    first, second, by_webhook_only = codes
    context = {"plan": {"code": "POA-2016-2020"}}
    notice = Notice("test", "A line completed", "body", True, event, context)
    channels = {
        first: ["webhook", "stream", "inbox"],
        second: ["stream"],
        by_webhook_only: ["webhook"],
    }

    async with sessions() as session, session.begin():
        await add_entries(session, notice, channels)
        await asyncio.sleep(HEARING)
        assert heard == [], "nothing is heard before the commit"
    await asyncio.sleep(HEARING)
    assert heard == [wakeup.INBOX]
    assert await _entries(sessions, codes) == [
        (first, 1, ["inbox", "stream"], context, True),
        (second, 1, ["stream"], context, True),
    ]

    # A second notice takes each delegation's next number.
    later = Notice("test", "Another", "body", event_row_id=None)
    async with sessions() as session, session.begin():
        await add_entries(session, later, {first: ["inbox"]})
    assert [(code, seq) for code, seq, *_ in await _entries(sessions, [first])] == [
        (first, 1),
        (first, 2),
    ]


async def test_an_entry_that_exists_is_skipped_and_wakes_nobody(
    sessions: async_sessionmaker[AsyncSession], heard: list[str]
) -> None:
    (code,), event = await _delegations_and_event(sessions, 1)
    notice = Notice("test", "Once", "body", event_row_id=event)
    async with sessions() as session, session.begin():
        await add_entries(session, notice, {code: ["inbox"]})
    await asyncio.sleep(HEARING)
    heard.clear()

    async with sessions() as session, session.begin():
        await add_entries(session, notice, {code: ["inbox"]})
    await asyncio.sleep(HEARING)
    assert heard == []
    assert len(await _entries(sessions, [code])) == 1


async def test_a_rolled_back_entry_wakes_nobody(
    sessions: async_sessionmaker[AsyncSession], heard: list[str]
) -> None:
    (code,), event = await _delegations_and_event(sessions, 1)
    async with sessions() as session, session.begin():
        await add_entries(session, Notice("test", "t", "b", event_row_id=event), {code: ["inbox"]})
        await session.rollback()
    await asyncio.sleep(HEARING)
    assert heard == []
    assert await _entries(sessions, [code]) == []

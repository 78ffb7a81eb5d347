"""Wake-ups (services/notifications/wakeup.py) go out once per channel when the transaction
that named them commits, in one statement before the commit, and never for one rolled back."""

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from services.notifications import wakeup
from shared.db import asyncpg_dsn, make_engine, make_session_factory
from tests.support.databases import empty_database
from tests.support.stack import Infrastructure

pytestmark = pytest.mark.integration


async def test_wake_ups_go_out_at_commit_once_per_channel(infra: Infrastructure) -> None:
    url = await empty_database(infra, "wakeups")
    engine = make_engine(url, pool_size=1)
    sessions = make_session_factory(engine)
    listener = await asyncpg.connect(asyncpg_dsn(url))
    heard: list[str] = []
    for channel in (wakeup.DELIVERIES, wakeup.INBOX, wakeup.EMAILS):
        await listener.add_listener(channel, lambda _c, _p, channel, _m: heard.append(channel))
    try:
        async with sessions() as session, session.begin():
            await wakeup.notify(session, wakeup.INBOX)
            await wakeup.notify(session, wakeup.DELIVERIES)
            await wakeup.notify(session, wakeup.INBOX)
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.3)
            assert heard == [], "nothing is heard before the commit"
        await asyncio.sleep(0.3)
        assert sorted(heard) == sorted([wakeup.DELIVERIES, wakeup.INBOX])

        heard.clear()
        async with sessions() as session:
            async with session.begin():
                await wakeup.notify(session, wakeup.EMAILS)
                await session.rollback()
            # The same session's next transaction names only what it names itself.
            async with session.begin():
                await wakeup.notify(session, wakeup.INBOX)
        await asyncio.sleep(0.3)
        assert heard == [wakeup.INBOX]
    finally:
        await listener.close()
        await engine.dispose()

"""The relay's hand-over between replicas (decision 35): a new leader may take the lock while
the old leader's batch is still open on another connection (the lock is released the moment
its own connection drops). The new leader's claim must wait for those rows, not skip them:
skipping published the later rows of the same key first."""

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy import insert

from shared.db import asyncpg_dsn, make_session_factory
from shared.outbox import OutboxRelay
from tests.support.background import in_background
from tests.support.kafka import read_all
from tests.support.outbox import own_outbox
from tests.support.stack import Infrastructure
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_a_new_leader_waits_for_the_rows_an_old_leaders_batch_holds(
    infra: Infrastructure,
) -> None:
    async with own_outbox(infra, "handover") as outbox:
        async with outbox.engine.begin() as connection:
            for n in (1, 2, 3):
                row = {"event_id": uuid.uuid4(), "topic": outbox.topic, "key": "plan-1"}
                await connection.execute(
                    insert(outbox.table).values(**row, event_type="t", payload=str(n).encode())
                )
        # The old leader, mid-batch: it holds the first row (and would publish it next).
        old_leader = await asyncpg.connect(asyncpg_dsn(outbox.url))
        transaction = old_leader.transaction()
        await transaction.start()
        await old_leader.execute("SELECT id FROM outbox ORDER BY id LIMIT 1 FOR UPDATE")
        relay = OutboxRelay(
            sessions=make_session_factory(outbox.engine),
            table=outbox.table,
            listen_dsn=asyncpg_dsn(outbox.url),
            kafka=infra.kafka_admin,
        )
        # Another connection watches (statistics are frozen within a transaction).
        observer = await asyncpg.connect(asyncpg_dsn(outbox.url))
        async with in_background(relay.run()):
            try:
                await eventually(
                    lambda: _claim_waits_for_a_lock(observer),
                    timeout=60,
                    what="the new leader's claim waiting for the old leader's row",
                )
            finally:
                await observer.close()
            await transaction.rollback()  # the old leader died: its batch is not published
            await old_leader.close()
            await eventually(
                lambda: asyncio.sleep(0, relay.state.published_total >= 3),
                timeout=60,
                what="the three rows published",
            )
    published = [record.value for record in await read_all(infra.kafka_admin, outbox.topic)]
    assert published == [b"1", b"2", b"3"]


async def _claim_waits_for_a_lock(observer: asyncpg.Connection) -> bool:
    waiting = await observer.fetchval(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND query ILIKE '%FROM outbox%FOR UPDATE%'"
    )
    return bool(waiting)

"""The relay's hand-over between replicas (decision 35): a new leader may take the lock while
the old leader's batch is still open on another connection (the lock is released the moment
its own connection drops). The new leader's claim must wait for those rows, not skip them:
skipping published the later rows of the same key first."""

import asyncio
import uuid

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import MetaData, insert, text

from shared.db import asyncpg_dsn, make_engine, make_session_factory
from shared.outbox import NOTIFY_TRIGGER_DDL, OutboxRelay, outbox_table
from tests.support.background import in_background
from tests.support.kafka import read_all
from tests.support.stack import Infrastructure
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_a_new_leader_waits_for_the_rows_an_old_leaders_batch_holds(
    infra: Infrastructure,
) -> None:
    topic = f"test.handover.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(**infra.kafka_admin.client_options())
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await admin.close()
    database = f"handover_{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(infra.postgres.create_database, database)
    url = infra.postgres.url(database)
    outbox = outbox_table(MetaData())
    engine = make_engine(url, pool_size=2)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(outbox.metadata.create_all)
            for statement in NOTIFY_TRIGGER_DDL:
                await connection.execute(text(statement))
            for n in (1, 2, 3):
                row = {"event_id": uuid.uuid4(), "topic": topic, "key": "plan-1"}
                await connection.execute(
                    insert(outbox).values(**row, event_type="t", payload=str(n).encode())
                )
        # The old leader, mid-batch: it holds the first row (and would publish it next).
        old_leader = await asyncpg.connect(asyncpg_dsn(url))
        transaction = old_leader.transaction()
        await transaction.start()
        await old_leader.execute("SELECT id FROM outbox ORDER BY id LIMIT 1 FOR UPDATE")
        relay = OutboxRelay(
            sessions=make_session_factory(engine),
            table=outbox,
            listen_dsn=asyncpg_dsn(url),
            kafka=infra.kafka_admin,
        )
        # Another connection watches (statistics are frozen within a transaction).
        observer = await asyncpg.connect(asyncpg_dsn(url))
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
        published = [record.value for record in await read_all(infra.kafka_admin, topic)]
        assert published == [b"1", b"2", b"3"]
    finally:
        await engine.dispose()


async def _claim_waits_for_a_lock(observer: asyncpg.Connection) -> bool:
    waiting = await observer.fetchval(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND query ILIKE '%FROM outbox%FOR UPDATE%'"
    )
    return bool(waiting)

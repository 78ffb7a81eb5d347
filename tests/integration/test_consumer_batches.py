"""The consumer runner applies a partition's batch in one transaction; when one event of the
batch fails, the others are still applied once each and only the culprit is dead-lettered."""

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.consumer import ConsumerRunner, processed_events_table
from shared.contracts import plans as plan_events
from shared.db import make_engine, make_session_factory
from shared.events import CloudEvent, EventContract
from shared.topics import dead_letter_topic
from tests.support.kafka import produce, read_all, status_changed_event
from tests.support.stack import Infrastructure
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_one_failing_event_in_a_batch_is_dead_lettered_and_the_others_apply_once(
    infra: Infrastructure,
) -> None:
    topic = f"test.batches.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(t, 1, 1) for t in (topic, dead_letter_topic(topic))])
    await admin.close()
    database = f"batches_{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(infra.postgres.create_database, database)
    metadata = MetaData()
    processed = processed_events_table(metadata)
    # The handler's effect lives in the database, like every real handler's, so a batch that
    # is rolled back leaves no trace of it.
    effects = Table("effects", metadata, Column("event_id", String(200), nullable=False))
    engine = make_engine(infra.postgres.url(database), pool_size=2)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)

    plan_id = uuid.uuid4()
    first, poison, last = (status_changed_event(plan_id) for _ in range(3))

    async def handler(session: AsyncSession, event: CloudEvent, data: EventContract) -> None:
        if event.id == poison.id:
            raise RuntimeError("this one never applies")
        await session.execute(insert(effects).values(event_id=event.id))

    runner = ConsumerRunner(
        group_id=f"test-{uuid.uuid4().hex[:6]}",
        topics=[topic],
        handlers={plan_events.ActionLineStatusChanged.event_type: handler},
        sessions=make_session_factory(engine),
        processed_table=processed,
        bootstrap_servers=infra.bootstrap_servers,
        max_attempts=2,
    )
    key = str(plan_id).encode()
    # Produced before the runner starts, so they arrive together in one fetched batch.
    await produce(
        infra.bootstrap_servers,
        topic,
        [(key, e.to_bytes()) for e in (first, poison, first, last)],
    )
    task = asyncio.create_task(runner.run())
    try:

        async def done() -> bool:
            return runner.state.dead_lettered_total == 1 and runner.state.processed_total == 2

        await eventually(done, what="two applied and one dead-lettered")
        async with engine.connect() as connection:
            rows = sorted((await connection.execute(select(effects.c.event_id))).scalars())
        assert rows == sorted([first.id, last.id])
        assert runner.state.duplicates_skipped == 1
        [parked] = await read_all(infra.bootstrap_servers, dead_letter_topic(topic), settle=1)
        headers = {k: v.decode() for k, v in parked.headers}
        assert parked.value == poison.to_bytes()
        assert (
            "handler failed 2 times: RuntimeError: this one never applies" in headers["dlt.reason"]
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()

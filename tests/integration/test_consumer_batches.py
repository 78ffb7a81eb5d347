"""The consumer runner against the real broker and PostgreSQL: a partition's batch is applied
in one transaction; when one event of the batch fails, the others are still applied once each
and only the culprit is dead-lettered; a transaction that loses a race (a deadlock, a
serialization failure) is tried again until it applies, and is never dead-lettered."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import Column, MetaData, String, Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.consumer import ConsumerRunner, processed_events_table
from shared.contracts import plans as plan_events
from shared.db import make_engine, make_session_factory
from shared.events import CloudEvent, EventContract
from shared.subscriptions import Handler
from shared.topics import dead_letter_topic
from tests.support.kafka import produce, read_all, status_changed_event
from tests.support.stack import Infrastructure
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@dataclass
class Bench:
    """A topic (and its dead-letter topic) and a database of one test's own, with a table
    where the handler writes its effect, like every real handler does, so that a batch
    rolled back leaves no trace of it."""

    infra: Infrastructure
    topic: str
    engine: AsyncEngine
    processed: Table
    effects: Table

    def runner(self, handler: Handler, *, max_attempts: int) -> ConsumerRunner:
        return ConsumerRunner(
            group_id=f"test-{uuid.uuid4().hex[:6]}",
            topics=[self.topic],
            handlers={plan_events.ActionLineStatusChanged.event_type: handler},
            sessions=make_session_factory(self.engine),
            processed_table=self.processed,
            bootstrap_servers=self.infra.bootstrap_servers,
            max_attempts=max_attempts,
        )

    async def applied(self) -> list[str]:
        async with self.engine.connect() as connection:
            return sorted((await connection.execute(select(self.effects.c.event_id))).scalars())


@pytest.fixture
async def bench(infra: Infrastructure) -> AsyncIterator[Bench]:
    topic = f"test.batches.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(t, 1, 1) for t in (topic, dead_letter_topic(topic))])
    await admin.close()
    database = f"batches_{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(infra.postgres.create_database, database)
    metadata = MetaData()
    processed = processed_events_table(metadata)
    effects = Table("effects", metadata, Column("event_id", String(200), nullable=False))
    engine = make_engine(infra.postgres.url(database), pool_size=2)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield Bench(infra, topic, engine, processed, effects)
    finally:
        await engine.dispose()


async def _run_until_settled(runner: ConsumerRunner, events: int) -> None:
    """Run the consumer until every one of ``events`` events was applied or dead-lettered."""
    task = asyncio.create_task(runner.run())

    async def done() -> bool:
        state = runner.state
        return state.processed_total + state.dead_lettered_total == events

    try:
        await eventually(done, what=f"{events} events applied or dead-lettered")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_one_failing_event_in_a_batch_is_dead_lettered_and_the_others_apply_once(
    bench: Bench,
) -> None:
    plan_id = uuid.uuid4()
    first, poison, last = (status_changed_event(plan_id) for _ in range(3))

    async def handler(session: AsyncSession, event: CloudEvent, data: EventContract) -> None:
        if event.id == poison.id:
            raise RuntimeError("this one never applies")
        await session.execute(insert(bench.effects).values(event_id=event.id))

    runner = bench.runner(handler, max_attempts=2)
    key = str(plan_id).encode()
    # Produced before the runner starts, so they arrive together in one fetched batch.
    await produce(
        bench.infra.bootstrap_servers,
        bench.topic,
        [(key, e.to_bytes()) for e in (first, poison, first, last)],
    )
    await _run_until_settled(runner, 3)

    assert (runner.state.processed_total, runner.state.dead_lettered_total) == (2, 1)
    assert await bench.applied() == sorted([first.id, last.id])
    assert runner.state.duplicates_skipped == 1
    [parked] = await read_all(bench.infra.bootstrap_servers, dead_letter_topic(bench.topic))
    headers = {k: v.decode() for k, v in parked.headers}
    assert parked.value == poison.to_bytes()
    assert "handler failed 2 times: RuntimeError: this one never applies" in headers["dlt.reason"]


# More times than the attempts a failing handler gets (the batch's try included).
LOST_RACES = 4


@pytest.mark.parametrize(
    "sqlstate", ["40P01", "40001"], ids=["deadlock_detected", "serialization_failure"]
)
async def test_a_transaction_that_loses_a_race_is_tried_again_until_it_applies(
    bench: Bench, sqlstate: str
) -> None:
    """PostgreSQL fails one event's transaction with ``sqlstate`` more times than a failing
    handler may fail: the error comes from the server through asyncpg and SQLAlchemy as a real
    deadlock or serialization failure would. The event still applies, once, and nothing goes
    to the dead-letter topic."""
    plan_id = uuid.uuid4()
    first, raced, last = (status_changed_event(plan_id) for _ in range(3))
    tries: Counter[str] = Counter()

    async def handler(session: AsyncSession, event: CloudEvent, data: EventContract) -> None:
        tries[event.id] += 1
        if event.id == raced.id and tries[event.id] <= LOST_RACES:
            await session.execute(
                text(
                    "DO $$ BEGIN RAISE EXCEPTION 'lost a race' USING ERRCODE = '"
                    + sqlstate
                    + "'; END $$"
                )
            )
        await session.execute(insert(bench.effects).values(event_id=event.id))

    runner = bench.runner(handler, max_attempts=2)
    await produce(
        bench.infra.bootstrap_servers,
        bench.topic,
        [(str(plan_id).encode(), e.to_bytes()) for e in (first, raced, last)],
    )
    await _run_until_settled(runner, 3)

    assert runner.state.dead_lettered_total == 0
    assert await bench.applied() == sorted(e.id for e in (first, raced, last))
    assert tries[raced.id] == LOST_RACES + 1
    assert await read_all(bench.infra.bootstrap_servers, dead_letter_topic(bench.topic)) == []

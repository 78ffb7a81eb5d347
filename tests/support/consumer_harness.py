"""A consumer runner on a topic and a database of the test's own, for the runner's own tests."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.consumer import ConsumerRunner, processed_events_table
from shared.contracts import plans as plan_events
from shared.db import make_engine, make_session_factory
from shared.dead_letters import dead_letters_table
from shared.events import CloudEvent, EventContract
from shared.subscriptions import Batched
from shared.topics import dead_letter_topic
from tests.support.kafka import create_topics
from tests.support.stack import Infrastructure

Handler = Callable[[AsyncSession, CloudEvent, EventContract], Awaitable[None]]
Trouble = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


@dataclass
class Harness:
    topic: str
    runner: ConsumerRunner
    engine: AsyncEngine
    # The handler's effect lives in the database, like every real handler's, so a batch that
    # is rolled back leaves no trace of it.
    effects: Table
    dead_letters: Table
    # With ``batched``: the number of events of each call of the handler, in order.
    runs: list[int]

    async def applied(self) -> list[str]:
        async with self.engine.connect() as connection:
            return sorted((await connection.execute(select(self.effects.c.event_id))).scalars())


@asynccontextmanager
async def harness(
    infra: Infrastructure,
    *,
    fails: frozenset[str] = frozenset(),
    trouble: Trouble | None = None,
    stall_seconds: float = 60.0,
    batched: bool = False,
) -> AsyncIterator[Harness]:
    """A runner reading a new one-partition topic into a new database; its handler records
    each event in ``effects``, raises for the event ids in ``fails``, and first runs
    ``trouble`` (which may fail the transaction) if given; ``batched``: a ``Batched`` handler,
    which takes runs of events. Started by ``run``."""
    topic = f"test.batches.{uuid.uuid4().hex[:6]}"
    await create_topics(infra.kafka_admin, topic, dead_letter_topic(topic))
    database = f"batches_{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(infra.postgres.create_database, database)
    metadata = MetaData()
    effects = Table("effects", metadata, Column("event_id", String(200), nullable=False))
    dead_letters = dead_letters_table(metadata)
    processed = processed_events_table(metadata)
    engine = make_engine(infra.postgres.url(database), pool_size=4)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)

    async def handler(session: AsyncSession, event: CloudEvent, data: EventContract) -> None:
        if event.id in fails:
            raise RuntimeError("this one never applies")
        if trouble is not None:
            await trouble(session, event)
        await session.execute(insert(effects).values(event_id=event.id))

    runs: list[int] = []

    async def handle_all(session: AsyncSession, run: Sequence[tuple[CloudEvent, Any]]) -> None:
        runs.append(len(run))
        for event, data in run:
            await handler(session, event, data)

    runner = ConsumerRunner(
        group_id=f"test-{uuid.uuid4().hex[:6]}",
        topics=[topic],
        handlers={
            plan_events.ActionLineStatusChanged.event_type: (
                Batched(handle_all) if batched else handler
            )
        },
        sessions=make_session_factory(engine),
        processed_table=processed,
        dead_letters_table=dead_letters,
        kafka=infra.kafka_admin,
        max_attempts=2,
        stall_seconds=stall_seconds,
        owners={topic: plan_events.SOURCE},
    )
    try:
        yield Harness(topic, runner, engine, effects, dead_letters, runs)
    finally:
        await engine.dispose()

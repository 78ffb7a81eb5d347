"""An outbox of its own for a relay test: a fresh database with the outbox table and its
notify trigger, and a fresh topic."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_engine
from shared.outbox import NOTIFY_TRIGGER_DDL, outbox_table
from tests.support.databases import empty_database
from tests.support.stack import Infrastructure


@dataclass(frozen=True)
class OwnOutbox:
    url: str
    engine: AsyncEngine
    table: Table
    topic: str


@asynccontextmanager
async def own_outbox(
    infra: Infrastructure, name: str, *, partitions: int = 1
) -> AsyncIterator[OwnOutbox]:
    topic = f"test.{name}.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(**infra.kafka_admin.client_options())
    await admin.start()
    await admin.create_topics([NewTopic(topic, partitions, 1)])
    await admin.close()
    url = await empty_database(infra, name.replace("-", "_"))
    table = outbox_table(MetaData())
    engine = make_engine(url, pool_size=4)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.metadata.create_all)
            for statement in NOTIFY_TRIGGER_DDL:
                await connection.execute(text(statement))
        yield OwnOutbox(url, engine, table, topic)
    finally:
        await engine.dispose()

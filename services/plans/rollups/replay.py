"""Rebuild the rollup read model by replaying the plans topic from its beginning.

The plans topic keeps its events forever (retention -1), so it is the log the read model
can always be rebuilt from. The rebuild empties the read model while holding its tables
(the live projection waits), reads every partition up to the end offsets taken at that
moment, applies each line event with the same code as the live projection, and commits
once. Events that arrive meanwhile are applied by the live projection after the commit;
its version guard skips what the replay already applied.
"""

import asyncio
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.plans.rollups.projection import LINE_EVENTS, Projection, apply, clear
from shared.events import CloudEvent, InvalidEvent, parse_data
from shared.topics import PARTITIONS, PLANS_EVENTS


async def rebuild(
    sessions: async_sessionmaker[AsyncSession],
    bootstrap_servers: str,
    kafka_options: Mapping[str, Any] | None = None,
) -> int:
    """Return the number of line events applied."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, **(kafka_options or {})
    )
    await asyncio.wait_for(consumer.start(), 30)
    try:
        async with sessions() as session, session.begin():
            await clear(session)
            # The topic is created by shared.topics with this many partitions.
            partitions = [TopicPartition(PLANS_EVENTS, p) for p in range(PARTITIONS)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            projection = Projection(session, publish=False)
            applied = 0
            remaining = {tp for tp in partitions if end[tp] > 0}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=1000)
                for tp, records in batch.items():
                    for record in records:
                        if record.offset < end[tp]:
                            applied += await _apply(projection, record.value)
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
            return applied
    finally:
        await consumer.stop()


async def _apply(projection: Projection, raw: bytes | None) -> int:
    # What cannot apply was parked on the dead-letter topic by the live consumer already.
    try:
        data = parse_data(CloudEvent.from_bytes(raw))
        if not isinstance(data, LINE_EVENTS):
            return 0
        async with projection.session.begin_nested():
            await apply(projection, data)
    except InvalidEvent:
        return 0
    return 1

"""The relay fills record batches itself (``OutboxRelay._send_all``) instead of a ``send()`` per
row: each key's events must still land on the partition ``send()`` would have chosen (a relay
of the previous version, or a replica, publishing the same key elsewhere would let its events
overtake each other), in the order they were staged, each once, with the event headers."""

import asyncio
import uuid
from collections import defaultdict

import pytest
from sqlalchemy import insert

from shared.db import asyncpg_dsn, make_session_factory
from shared.events import KAFKA_HEADERS
from shared.outbox import OutboxRelay, make_producer
from tests.support.background import in_background
from tests.support.kafka import read_all
from tests.support.outbox import own_outbox
from tests.support.stack import Infrastructure
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

PARTITIONS = 6
KEYS = [f"plan-{n}" for n in range(40)]
# Enough rows of enough size that several record batches fill per partition and relay batch.
ROWS = 1_200
PAYLOAD = 300


async def test_relay_batches_keep_each_keys_partition_and_order(infra: Infrastructure) -> None:
    async with own_outbox(infra, "relay-batches", partitions=PARTITIONS) as outbox:
        async with outbox.engine.begin() as connection:
            await connection.execute(
                insert(outbox.table),
                [
                    {
                        "event_id": uuid.uuid4(),
                        "topic": outbox.topic,
                        "key": KEYS[n % len(KEYS)],
                        "event_type": "t",
                        "payload": f"{n:06d}".encode().ljust(PAYLOAD, b"."),
                    }
                    for n in range(ROWS)
                ],
            )
        relay = OutboxRelay(
            sessions=make_session_factory(outbox.engine),
            table=outbox.table,
            listen_dsn=asyncpg_dsn(outbox.url),
            kafka=infra.kafka_admin,
        )
        async with in_background(relay.run()):
            await eventually(
                lambda: asyncio.sleep(0, relay.state.published_total >= ROWS),
                timeout=60,
                what="every row published",
            )
    records = await read_all(infra.kafka_admin, outbox.topic)

    assert len(records) == ROWS
    partitions: dict[str, set[int]] = defaultdict(set)
    sequence: dict[str, list[int]] = defaultdict(list)
    for record in records:
        key = record.key.decode()
        partitions[key].add(record.partition)
        sequence[key].append(int(record.value[:6]))
        assert list(record.headers) == [(name, value) for name, value in KAFKA_HEADERS]
    sent_to = await _partitions_of_send(infra, outbox.topic)
    assert partitions == {key: {partition} for key, partition in sent_to.items()}
    for key, numbers in sequence.items():
        assert numbers == sorted(numbers), f"{key}'s events out of order"
    assert sorted(n for numbers in sequence.values() for n in numbers) == list(range(ROWS))


async def _partitions_of_send(infra: Infrastructure, topic: str) -> dict[str, int]:
    """Where the producer's own ``send()`` puts each key (probe records, after the reading)."""
    producer = make_producer(infra.kafka_admin)
    await producer.start()
    try:
        return {
            key: (await producer.send_and_wait(topic, b"probe", key=key.encode())).partition
            for key in KEYS
        }
    finally:
        await producer.stop()

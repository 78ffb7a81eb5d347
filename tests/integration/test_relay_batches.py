"""The relay fills record batches itself (``OutboxRelay._send_all``) instead of a ``send()`` per
row: each key's events must still land on the partition ``send()`` would have chosen (a relay
of the previous version, or a replica, publishing the same key elsewhere would let its events
overtake each other), in the order they were staged, each once, with the event headers. It
claims and sends the next batch while one is in flight: a batch whose acks fail takes the one
behind it down too, and both go again in order."""

import asyncio
import uuid
from collections import defaultdict
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from sqlalchemy import func, insert, select

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
        await _stage(outbox)
        relay = _relay(infra, outbox)
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


async def test_a_batch_whose_acks_fail_takes_the_batch_behind_it_down_and_both_go_again_in_order(
    infra: Infrastructure,
) -> None:
    """The first batch's acknowledgements fail (a timeout) after the second batch was claimed
    and sent: neither may be marked published, both are sent again, and each key's events,
    read in the order they first appear, are still in staged order."""
    async with own_outbox(infra, "relay-batch-fails", partitions=PARTITIONS) as outbox:
        await _stage(outbox)
        relay = _relay(infra, outbox)
        send_all = relay._send_all
        claims: list[int] = []

        async def first_batch_fails(producer: Any, rows: Any) -> list[asyncio.Future[object]]:
            acks = await send_all(producer, rows)
            claims.append(len(rows))
            if len(claims) == 1:
                failing = asyncio.get_running_loop().create_future()
                # Late enough for the second batch to be claimed and sent meanwhile.
                asyncio.get_running_loop().call_later(
                    1.0, failing.set_exception, KafkaTimeoutError()
                )
                acks.append(failing)
            return acks

        relay._send_all = first_batch_fails  # type: ignore[method-assign]
        async with in_background(relay.run()):
            await eventually(
                lambda: _unpublished(outbox, 0), timeout=60, what="every row published"
            )
    assert claims[:2] == [500, 500], "the second batch was not claimed while the first flew"
    assert "KafkaTimeoutError" in (relay.state.last_error or "")
    records = await read_all(infra.kafka_admin, outbox.topic)
    numbers = [int(record.value[:6]) for record in records]
    # Both batches went twice: the second was rolled back with the first.
    assert len(numbers) == ROWS + 1_000
    assert sorted(set(numbers)) == list(range(ROWS))
    assert all(numbers.count(n) == 2 for n in range(1_000))
    first_seen: dict[str, list[int]] = defaultdict(list)
    for record, number in zip(records, numbers, strict=True):
        key = record.key.decode()
        if number not in first_seen[key]:
            first_seen[key].append(number)
    for key, seen in first_seen.items():
        assert seen == sorted(seen), f"{key}'s events out of order"


async def _stage(outbox: Any) -> None:
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


def _relay(infra: Infrastructure, outbox: Any) -> OutboxRelay:
    return OutboxRelay(
        sessions=make_session_factory(outbox.engine),
        table=outbox.table,
        listen_dsn=asyncpg_dsn(outbox.url),
        kafka=infra.kafka_admin,
    )


async def _unpublished(outbox: Any, expected: int) -> bool:
    async with outbox.engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).where(outbox.table.c.published_at.is_(None))
        )
    return count == expected

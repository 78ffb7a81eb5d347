"""The Kafka leg of the pipeline against a raw aiokafka loop, in one run on one machine.

    .venv/bin/python -m tests.benchmarks.bench_kafka_leg [--messages 5000] [--rate 50]

It starts its own PostgreSQL and Kafka, then measures, with the same payload (a real
status-changed CloudEvent), the same topic layout (6 partitions, keyed by plan id), acks=all
and an idempotent producer:
1. throughput: N outbox rows committed in one transaction once the relay leads and the
   consumer has its partitions (the clock starts at that commit), published by the relay and
   taken by a consumer runner with a no-op handler (dedupe row + commit per event, offsets
   committed in batches) vs a raw produce-and-consume loop of the same N messages, whose
   clients have started before its clock too;
2. latency at a modest steady rate: outbox commit -> consumer handled, vs raw send -> receive.
"""

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import collector
from shared.consumer import ConsumerRunner
from shared.contracts import plans as plan_events
from shared.db import asyncpg_dsn, make_engine, make_session_factory
from shared.events import CloudEvent, EventContract
from shared.kafka_access import KafkaAccess
from shared.orm import messaging_tables
from shared.outbox import (
    NOTIFY_TRIGGER_DDL,
    Outbox,
    OutboxRelay,
    make_producer,
)
from tests.benchmarks.measure import latency_ms, per_second
from tests.benchmarks.rounds import alternating
from tests.benchmarks.stopping import stoppable
from tests.support.kafka import status_changed_event
from tests.support.stack import Infrastructure, new_infrastructure

PARTITIONS = 6
PLANS = [uuid.uuid4() for _ in range(100)]


async def _topics(kafka: KafkaAccess, *names: str) -> None:
    """Create the topics and wait until each partition's leader answers: a producer that
    starts earlier gets NotLeaderForPartition and retries, slowing whichever side runs first.
    (The metadata names a leader before it serves; asking it for end offsets proves it does.)"""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=PARTITIONS, replication_factor=1) for n in names]
        )
    finally:
        await admin.close()
    probe = AIOKafkaConsumer(**kafka.client_options())
    await probe.start()
    try:
        partitions = [TopicPartition(n, p) for n in names for p in range(PARTITIONS)]
        await asyncio.wait_for(probe.end_offsets(partitions), 60)
    finally:
        await probe.stop()


async def _database(infra: Infrastructure) -> tuple[async_sessionmaker[AsyncSession], Any, str]:
    infra.postgres.create_database("accord_bench")
    url = infra.postgres.url("accord_bench")
    metadata = MetaData()
    outbox, processed, dead_letters = messaging_tables(metadata)
    engine = make_engine(url, pool_size=10)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        for statement in NOTIFY_TRIGGER_DDL:
            await connection.execute(text(statement))
    return make_session_factory(engine), (outbox, processed, engine, dead_letters), url


def _payload(plan_id: uuid.UUID = PLANS[0]) -> plan_events.ActionLineStatusChanged:
    data = status_changed_event(plan_id).data
    return plan_events.ActionLineStatusChanged.model_validate(data)


def _outbox(table: Any, topic: str) -> Outbox:
    """Keyed by plan id and from the same source as the plans service's, over the bench's
    100 plans (the runner refuses events whose source does not own the topic)."""
    return Outbox(table=table, topic=topic, source=plan_events.SOURCE, key="plan_id")


async def raw_throughput(kafka: KafkaAccess, topic: str, count: int) -> float:
    payload = status_changed_event(PLANS[0]).to_bytes()
    producer = make_producer(kafka)
    consumer = AIOKafkaConsumer(
        topic, **kafka.client_options(), group_id=f"raw-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False, auto_offset_reset="earliest",
    )  # fmt: skip
    await producer.start()
    await consumer.start()
    try:
        started = time.perf_counter()

        async def produce() -> None:
            acks = [
                await producer.send(topic, payload, key=str(PLANS[i % 100]).encode())
                for i in range(count)
            ]
            await asyncio.gather(*acks)

        async def consume() -> None:
            seen, last_commit = 0, time.perf_counter()
            while seen < count:
                batch = await consumer.getmany(timeout_ms=500, max_records=500)
                seen += sum(len(records) for records in batch.values())
                if time.perf_counter() - last_commit > 0.5:
                    await consumer.commit()
                    last_commit = time.perf_counter()
            await consumer.commit()

        await asyncio.gather(produce(), consume())
        return time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()


async def ours_throughput(
    sessions: async_sessionmaker[AsyncSession],
    tables: Any,
    url: str,
    kafka: KafkaAccess,
    topic: str,
    count: int,
) -> float:
    outbox = _outbox(tables[0], topic)
    payloads = [_payload(plan_id) for plan_id in PLANS]

    async def commit_rows() -> None:
        async with sessions() as session, session.begin():
            await outbox.add_many(session, [(payloads[i % 100], "bench") for i in range(count)])

    return await _relay_and_consume(sessions, tables, url, kafka, topic, count, None, commit_rows)


async def _relay_and_consume(
    sessions: async_sessionmaker[AsyncSession],
    tables: Any,
    url: str,
    kafka: KafkaAccess,
    topic: str,
    count: int,
    on_event: Any = None,
    during: Any = None,
) -> float:
    outbox, processed, _, dead_letters = tables

    async def handled(session: AsyncSession, event: CloudEvent, data: EventContract) -> None:
        if on_event is not None:
            on_event(event)

    runner = ConsumerRunner(
        group_id=f"ours-{uuid.uuid4().hex[:6]}",
        topics=[topic],
        handlers={plan_events.ActionLineStatusChanged.event_type: handled},
        sessions=sessions,
        processed_table=processed,
        dead_letters_table=dead_letters,
        kafka=kafka,
        owners={topic: plan_events.SOURCE},
    )
    relay = OutboxRelay(sessions=sessions, table=outbox, listen_dsn=asyncpg_dsn(url), kafka=kafka)
    tasks = [asyncio.create_task(runner.run()), asyncio.create_task(relay.run())]
    try:
        # The clock starts once the relay leads and the consumer has its partitions, as the raw
        # loop's starts after its clients have started: otherwise a group join (about half the
        # time of 5,000 events) was counted as the leg's.
        await _until_ready(runner, relay)
        if during is not None:
            await during()
        started = time.perf_counter()
        while runner.state.processed_total < count:
            await asyncio.sleep(0.01)
        return time.perf_counter() - started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _until_ready(runner: ConsumerRunner, relay: OutboxRelay, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not (
        relay.state.is_leader and relay.state.kafka_connected and runner.state.lag is not None
    ):
        if time.monotonic() > deadline:
            raise TimeoutError(f"relay {relay.state}, consumer {runner.state}")
        await asyncio.sleep(0.05)


async def raw_latency(kafka: KafkaAccess, topic: str, count: int, rate: float) -> dict[str, float]:
    producer = make_producer(kafka)
    consumer = AIOKafkaConsumer(topic, **kafka.client_options(), auto_offset_reset="latest")
    await producer.start()
    await consumer.start()
    await asyncio.sleep(1)  # the consumer's assignment settles before the first send
    sent: dict[str, float] = {}
    latencies: list[float] = []
    try:

        async def consume() -> None:
            while len(latencies) < count:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    now = time.perf_counter()
                    for record in records:
                        latencies.append(now - sent[json.loads(record.value)["id"]])

        reader = asyncio.create_task(consume())
        for _ in range(count):
            event = status_changed_event(PLANS[0])
            sent[event.id] = time.perf_counter()
            await producer.send_and_wait(
                topic, event.to_bytes(), key=str(PLANS[len(sent) % 100]).encode()
            )
            await asyncio.sleep(1 / rate)
        await asyncio.wait_for(reader, 30)
        return latency_ms(latencies)
    finally:
        await producer.stop()
        await consumer.stop()


async def ours_latency(
    sessions: async_sessionmaker[AsyncSession],
    tables: Any,
    url: str,
    kafka: KafkaAccess,
    topic: str,
    count: int,
    rate: float,
) -> dict[str, float]:
    outbox = _outbox(tables[0], topic)
    committed: dict[str, float] = {}
    latencies: list[float] = []

    def on_event(event: CloudEvent) -> None:
        latencies.append(time.perf_counter() - committed[event.id])

    async def write_steadily() -> None:
        for i in range(count):
            async with sessions() as session, session.begin():
                event_id = await outbox.add(session, _payload(PLANS[i % 100]), subject="b")
            committed[str(event_id)] = time.perf_counter()
            await asyncio.sleep(1 / rate)

    await _relay_and_consume(sessions, tables, url, kafka, topic, count, on_event, write_steadily)
    return latency_ms(latencies)


async def measure(
    infra: Infrastructure,
    count: int = 5000,
    rate: float = 50.0,
    latency_count: int = 300,
    rounds: int = 3,
) -> dict[str, Any]:
    """Both throughputs (``rounds`` alternating runs each, after one small warm-up run of
    each) and both latencies on a running PostgreSQL and Kafka (topics and a database of its
    own, so the services that may run beside it are not involved). Each run has topics of its
    own: a new consumer group reads from the start, so it must find only its own messages."""
    collector.freeze_startup_objects()  # as a started service does; both sides gain alike
    kafka = infra.kafka_admin
    runs = [f"bench.{side}.{i}" for i in ["w", *range(rounds)] for side in ("raw", "ours")]
    await _topics(
        kafka,
        *runs,
        *(f"{name}.dlt" for name in runs if ".ours." in name),
        "bench.raw.lat",
        "bench.ours.lat",
        "bench.ours.lat.dlt",
    )
    sessions, tables, url = await _database(infra)
    runs_done = {"raw": 0, "ours": 0}

    async def raw() -> float:
        i, runs_done["raw"] = runs_done["raw"], runs_done["raw"] + 1
        return per_second(count, await raw_throughput(kafka, f"bench.raw.{i}", count))

    async def ours() -> float:
        i, runs_done["ours"] = runs_done["ours"], runs_done["ours"] + 1
        seconds = await ours_throughput(sessions, tables, url, kafka, f"bench.ours.{i}", count)
        return per_second(count, seconds)

    async def warm_up() -> None:
        warm = max(100, count // 10)
        await raw_throughput(kafka, "bench.raw.w", warm)
        await ours_throughput(sessions, tables, url, kafka, "bench.ours.w", warm)

    try:
        throughput = await alternating(rounds, ours, raw, warm_up)
        raw_lat = await raw_latency(kafka, "bench.raw.lat", latency_count, rate)
        ours_lat = await ours_latency(
            sessions, tables, url, kafka, "bench.ours.lat", latency_count, rate
        )
    finally:
        await tables[2].dispose()
    return {
        "messages": count,
        "payload_bytes": len(status_changed_event(PLANS[0]).to_bytes()),
        "throughput": {
            "raw_aiokafka_per_s": throughput["peer"]["median"],
            "relay_consumer_per_s": throughput["ours"]["median"],
            "rounds": throughput,
        },
        "latency_at_rate_per_s": rate,
        "latency": {"raw_send_to_receive": raw_lat, "outbox_commit_to_handled": ours_lat},
    }


async def run(count: int, rate: float, latency_count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="accord-bench-kafka-") as runtime:
        infra = new_infrastructure(Path(runtime))
        try:
            await asyncio.to_thread(infra.start)
            return await measure(infra, count, rate, latency_count)
        finally:
            infra.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=50.0, help="events/s for the latency runs")
    parser.add_argument("--latency-messages", type=int, default=300)
    args = parser.parse_args()
    figures = asyncio.run(stoppable(run(args.messages, args.rate, args.latency_messages)))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""Talking to the suite's real broker directly, as a misbehaving or replaying producer would."""

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from deploy.local.kafka import MESSAGE_MAX_BYTES
from shared.contracts import plans as plan_events
from shared.events import CloudEvent, envelope
from shared.kafka_access import KafkaAccess
from shared.topics import PLANS_EVENTS

# How far under the broker's limit ``just_under_the_size_limit`` stays: less than the dlt.*
# headers a consumer adds (well over 100 bytes).
UNDER_THE_LIMIT = 64


async def create_topics(kafka: KafkaAccess, *names: str) -> None:
    """New topics of one partition each."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in names])
    finally:
        await admin.close()


async def produce(
    kafka: KafkaAccess,
    topic: str,
    messages: list[tuple[bytes, bytes]],
    *,
    headers: list[tuple[str, bytes]] | None = None,
    partition: int | None = None,
) -> None:
    """Send (key, value) pairs in order, each with ``headers`` (to ``partition`` if given, else
    where the key leads), and wait for every acknowledgement. The producer takes anything up
    to the broker's limit: the broker decides what it accepts."""
    producer = AIOKafkaProducer(
        **kafka.client_options(),
        acks="all",
        enable_idempotence=True,
        max_request_size=2 * MESSAGE_MAX_BYTES,
    )
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(
                topic, value=value, key=key, headers=headers, partition=partition
            )
    finally:
        await producer.stop()


async def read_all(kafka: KafkaAccess, topic: str, *, settle: float = 2.0) -> list[Any]:
    """Every record on a topic, read from the start without a consumer group."""
    consumer = AIOKafkaConsumer(topic, **kafka.client_options(), auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    try:
        while True:
            batch = await asyncio.wait_for(
                consumer.getmany(timeout_ms=int(settle * 1000)), settle + 10
            )
            if not batch:
                return records
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()


def just_under_the_size_limit(key: bytes, marker: str) -> bytes:
    """A value (not an event: it starts with ``marker``) whose message, alone in its record
    batch, is ``UNDER_THE_LIMIT`` bytes under the broker's limit: the broker accepts it, and it
    no longer fits once a consumer adds the ``dlt.*`` headers to park it."""
    target = MESSAGE_MAX_BYTES - UNDER_THE_LIMIT
    length = target - DefaultRecordBatchBuilder.estimate_size_in_bytes(key, b"", [])
    # The value's length prefix is a varint: settle on the length that hits the target.
    while DefaultRecordBatchBuilder.estimate_size_in_bytes(key, b"x" * length, []) > target:
        length -= 1
    head = f"oversized {marker} ".encode()
    return head + b"x" * (length - len(head))


def status_changed_event(plan_id: uuid.UUID, *, version: int = 2) -> CloudEvent:
    line_id = uuid.uuid4()
    payload = plan_events.ActionLineStatusChanged(
        plan_id=plan_id,
        action_line_id=line_id,
        section_path=[],
        code="9.9",
        tags=[],
        leads=[],
        old_status="not_started",
        new_status="ongoing",
        version=version,
        effective_date=date(2020, 9, 15),
        target_date=None,
        actor="test",
        source=plan_events.ChangeSource(kind="api"),
        changed_at=datetime.now(UTC),
    )
    return envelope(payload, source=plan_events.SOURCE, subject=f"action-lines/{line_id}")


def plan_created_event(plan_id: uuid.UUID) -> CloudEvent:
    """The plans service's announcement of a plan: what makes it one notifications knows
    (a subscription to a plan no event named is refused)."""
    payload = plan_events.PlanCreated(
        plan_id=plan_id,
        code=f"TEST-{plan_id.hex[:8]}",
        title="A plan announced by the test",
        partners=["ASEAN", "UN"],
        period_start=date(2016, 1, 1),
        period_end=date(2020, 12, 31),
        status="draft",
    )
    return envelope(payload, source=plan_events.SOURCE, subject=f"plans/{plan_id}")


async def announced_plan(plans: KafkaAccess) -> uuid.UUID:
    """A new plan that notifications knows only from its plan.created event, produced here
    as ``plans`` (the plans service's principal)."""
    plan_id = uuid.uuid4()
    await produce(
        plans, PLANS_EVENTS, [(str(plan_id).encode(), plan_created_event(plan_id).to_bytes())]
    )
    return plan_id

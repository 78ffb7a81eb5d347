"""Talking to the suite's real broker directly, as a misbehaving or replaying producer would."""

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.contracts import plans as plan_events
from shared.events import CloudEvent, envelope


async def produce(bootstrap_servers: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    """Send (key, value) pairs in order and wait for every acknowledgement."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def read_all(bootstrap_servers: str, topic: str, *, settle: float = 2.0) -> list[Any]:
    """Every record on a topic, read from the start without a consumer group."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest"
    )
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

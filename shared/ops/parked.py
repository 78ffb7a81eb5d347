"""Parked messages: what sits on the dead-letter topics, and the rows of each service's
``dead_letters`` table (the messages even the dead-letter topic refused, see
``shared/dead_letters.py``). Reading a dead-letter topic means reading it from its start,
so the scans report their progress."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import text

from shared.kafka_access import KafkaAccess
from shared.ops import sources

DLT_HEADER_PREFIX = "dlt."
# How long a scan waits for a partition that should hold more messages before it says so.
FETCH_PATIENCE = 10.0


class Progress(Protocol):
    """What a long scan or redrive tells about itself (the command draws it as a bar)."""

    def start(self, total: int, what: str) -> None: ...

    def advance(self, done: int = 1) -> None: ...


class NoProgress:
    def start(self, total: int, what: str) -> None:
        pass

    def advance(self, done: int = 1) -> None:
        pass


def text_of(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode(errors="backslashreplace")


def payload_of(value: bytes) -> Any:
    """The value as JSON when it is JSON (every event is), else as text."""
    try:
        return json.loads(value)
    except ValueError:
        return value.decode(errors="backslashreplace")


@dataclass(frozen=True)
class Original:
    """The message a consumer group could not process, where it first read it."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class ParkedMessage:
    """One message on a dead-letter topic."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    value: bytes

    @classmethod
    def of(cls, record: ConsumerRecord) -> ParkedMessage:
        return cls(
            record.topic,
            record.partition,
            record.offset,
            datetime.fromtimestamp(record.timestamp / 1000, UTC),
            record.key,
            tuple(record.headers or ()),
            record.value or b"",
        )

    def header(self, name: str) -> str | None:
        for header, value in reversed(self.headers):  # the last dlt.* pair is the latest parking
            if header == name:
                return text_of(value)
        return None

    @property
    def where(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def reason(self) -> str:
        return self.header("dlt.reason") or ""

    @property
    def group(self) -> str:
        return self.header("dlt.group") or ""

    @property
    def original(self) -> Original | None:
        """Where it came from, per its ``dlt.*`` headers (None: not parked by an Accord group)."""
        topic, partition, offset = (
            self.header(f"dlt.{name}") for name in ("topic", "partition", "offset")
        )
        if not topic or not partition or not offset:
            return None
        try:
            return Original(topic, int(partition), int(offset))
        except ValueError:
            return None

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers it had on its topic: the ``dlt.*`` ones were added when it was parked."""
        return [(n, v) for n, v in self.headers if not n.startswith(DLT_HEADER_PREFIX)]

    def summary(self) -> dict[str, Any]:
        original = self.original
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "parked_at": self.timestamp.isoformat(),
            "group": self.group,
            "reason": self.reason,
            "original": None if original is None else original.__dict__,
            "size": len(self.value),
        }

    def detail(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "key": text_of(self.key),
            "headers": [[name, text_of(value)] for name, value in self.headers],
            "payload": payload_of(self.value),
        }


@dataclass(frozen=True)
class Selection:
    """Which parked messages a command is about: all of them unless narrowed."""

    partition: int | None = None
    # Inclusive range of dead-letter offsets (with a partition).
    first_offset: int | None = None
    last_offset: int | None = None
    reason: str | None = None  # a substring of dlt.reason
    group: str | None = None

    def matches(self, message: ParkedMessage) -> bool:
        if self.first_offset is not None and message.offset < self.first_offset:
            return False
        if self.last_offset is not None and message.offset > self.last_offset:
            return False
        if self.reason is not None and self.reason not in message.reason:
            return False
        return self.group is None or message.group == self.group


async def dead_letter_counts(
    timeout: float, kafka: KafkaAccess | None = None
) -> dict[str, dict[int, int]]:
    """Messages on each dead-letter topic, per partition, from the offsets (nothing is read).
    A dead-letter topic not created yet is left out. ``kafka``: the broker and a principal
    that may describe and read the dead-letter topics (default: the environment's).
    (``deploy/stack status`` asks this too, as the local stack's admin.)"""
    async with sources.reader(timeout, kafka) as consumer:
        existing = await sources.partitions_of_topics(consumer)
        partitions = [
            TopicPartition(topic, partition)
            for topic in sources.dead_letter_topics()
            for partition in existing.get(topic, ())
        ]
        first = await consumer.beginning_offsets(partitions) if partitions else {}
        end = await consumer.end_offsets(partitions) if partitions else {}
    counts: dict[str, dict[int, int]] = {}
    for tp in partitions:
        counts.setdefault(tp.topic, {})[tp.partition] = end[tp] - first[tp]
    return counts


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    partitions = (await sources.partitions_of_topics(consumer)).get(topic)
    if not partitions:
        raise LookupError(f"the broker has no topic {topic}")
    return partitions


async def scan(
    topic: str,
    selection: Selection,
    timeout: float,
    progress: Progress | None = None,
) -> AsyncIterator[ParkedMessage]:
    """The selected messages of a dead-letter topic, read from the start of each partition up
    to its end as of now (what arrives meanwhile waits for the next scan)."""
    progress = progress or NoProgress()
    async with sources.reader(timeout) as consumer:
        partitions = await _partitions(consumer, topic)
        if selection.partition is not None:
            if selection.partition not in partitions:
                raise LookupError(f"{topic} has no partition {selection.partition}")
            partitions = [selection.partition]
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            start = starts[tp]
            if selection.first_offset is not None:
                start = max(start, selection.first_offset)
            consumer.seek(tp, start)
            starts[tp] = start
        if selection.last_offset is not None:
            ends = {tp: min(end, selection.last_offset + 1) for tp, end in ends.items()}
        remaining = {tp for tp in tps if ends[tp] > starts[tp]}
        progress.start(sum(max(0, ends[tp] - starts[tp]) for tp in tps), f"reading {topic}")
        async for record in _read(consumer, remaining, ends, progress):
            message = ParkedMessage.of(record)
            if selection.matches(message):
                yield message


async def _read(
    consumer: AIOKafkaConsumer,
    remaining: set[TopicPartition],
    ends: dict[TopicPartition, int],
    progress: Progress,
) -> AsyncIterator[ConsumerRecord]:
    quiet_since = time.monotonic()
    while remaining:
        batch = await asyncio.wait_for(
            consumer.getmany(*remaining, timeout_ms=1000), FETCH_PATIENCE
        )
        if batch:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > FETCH_PATIENCE:
            behind = ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(remaining))
            raise sources.Unreachable(f"the broker sent nothing more of {behind} for a while")
        for tp, records in batch.items():
            for record in records:
                if record.offset < ends[tp]:
                    progress.advance()
                    yield record
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)


async def fetch(topic: str, partition: int, offset: int, timeout: float) -> ConsumerRecord:
    """The message at these coordinates (raises LookupError if there is none)."""
    async with sources.reader(timeout) as consumer:
        if partition not in await _partitions(consumer, topic):
            raise LookupError(f"{topic} has no partition {partition}")
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        start = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        if not start <= offset < end:
            raise LookupError(
                f"{topic}/{partition} has no offset {offset} (it holds {start} to {end - 1})"
            )
        consumer.seek(tp, offset)
        async for record in _read(consumer, {tp}, {tp: offset + 1}, NoProgress()):
            if record.offset == offset:
                return record
    raise LookupError(f"{topic}/{partition} has no message at offset {offset}")


def parse_where(where: str) -> tuple[str, int, int]:
    """``<topic>/<partition>/<offset>`` as the commands print it."""
    topic, _, rest = where.rpartition("/")
    topic, _, partition = topic.rpartition("/")
    if not topic or not partition.isdigit() or not rest.isdigit():
        raise ValueError(f"{where!r} is not <topic>/<partition>/<offset>")
    return topic, int(partition), int(rest)


# The fallback: the dead_letters table of each service.

_ROWS = text(
    """
    SELECT id, group_id, topic, partition, "offset", reason, publish_error, key, headers,
           value_prefix, value_size, recorded_at
    FROM dead_letters WHERE (CAST(:id AS bigint) IS NULL OR id = :id) ORDER BY id
    """
)


@dataclass(frozen=True)
class DeadLetterRow:
    service: str
    id: int
    group: str
    original: Original
    reason: str
    publish_error: str
    key: bytes | None
    headers: list[list[str]]
    value_prefix: bytes
    value_size: int
    recorded_at: datetime

    @property
    def where(self) -> str:
        return f"{self.service}.dead_letters/{self.id}"

    def summary(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "id": self.id,
            "group": self.group,
            "original": self.original.__dict__,
            "reason": self.reason,
            "publish_error": self.publish_error,
            "size": self.value_size,
            "recorded_at": self.recorded_at.isoformat(),
        }

    def detail(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "key": text_of(self.key),
            "headers": self.headers,
            # The row keeps a prefix; the whole message is still on its topic.
            "payload_prefix": self.value_prefix.decode(errors="backslashreplace"),
        }


async def dead_letter_rows(
    services: Iterable[str], timeout: float, row_id: int | None = None
) -> list[DeadLetterRow]:
    rows = []
    for service in services:
        async with sources.database(service, timeout) as connection:
            for row in await connection.execute(_ROWS, {"id": row_id}):
                rows.append(
                    DeadLetterRow(
                        service,
                        row.id,
                        row.group_id,
                        Original(row.topic, row.partition, row.offset),
                        row.reason,
                        row.publish_error,
                        row.key,
                        row.headers,
                        row.value_prefix,
                        row.value_size,
                        row.recorded_at,
                    )
                )
    return rows

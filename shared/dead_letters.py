"""Parking a message that can never be processed, so that it never stops its consumer group.

First choice: the dead-letter topic ``<topic>.dlt``, the message with its value, key and
headers plus ``dlt.*`` headers saying why and where from. That can fail for the message's own
sake: a message just under the broker's size limit no longer fits once the headers are added,
and the broker (or the producer, which checks the same limit first) refuses it every time.
Retrying such a refusal, or recreating the consumer and re-reading the message, would stop the
partition for good, in every group. So the runner (``shared/consumer.py``) tells two cases
apart:

- the broker refuses this record (``refused_by_broker``), or a send keeps failing while the
  broker answers: the message is recorded in the service's own ``dead_letters`` table (its
  coordinates, the reasons, its key and headers, a bounded prefix of its value and its size)
  and the consumer moves on; an error-level log line and a counter on ``/healthz`` alert;
- the broker does not answer (an outage): nothing is recorded and the consumer waits for the
  broker, as for any other broker trouble, and parks the message on the topic once it is back.

Event topics keep their messages forever, so the coordinates always lead back to the whole
message; the row is what an operator sees first.
"""

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import (
    CorruptRecordException,
    InvalidMessageError,
    InvalidTimestampError,
    InvalidTopicError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnsupportedForMessageFormatError,
)
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.topics import dead_letter_topic

# Enough of a value to see what it was; the whole message stays on its topic.
VALUE_PREFIX_BYTES = 64 * 1024
# Keys and header values are small in every message Accord writes; a hostile one is cut.
KEY_PREFIX_BYTES = 1024
HEADER_VALUE_PREFIX_BYTES = 1024
MAX_HEADERS = 64

# Answers by which the broker (or the producer, checking the broker's limits before sending)
# refuses this record itself: sending it again can never succeed.
_REFUSALS = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    CorruptRecordException,
    InvalidMessageError,
    InvalidTimestampError,
    InvalidTopicError,
    PolicyViolationError,
    TopicAuthorizationFailedError,
    UnsupportedForMessageFormatError,
)


def refused_by_broker(exc: BaseException) -> bool:
    """Whether a failed dead-letter send is the record's fault rather than the broker's
    absence (a timeout, a lost connection, a leader moving: those are waited out)."""
    return isinstance(exc, _REFUSALS)


def dead_letters_table(metadata: MetaData) -> Table:
    return Table(
        "dead_letters",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("topic", String(249), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("group_id", String(200), nullable=False),
        # Why the message could not be processed, and why the dead-letter topic did not take it.
        Column("reason", Text, nullable=False),
        Column("publish_error", Text, nullable=False),
        Column("key", LargeBinary),
        # [[name, value], ...], values decoded as UTF-8 (undecodable bytes escaped).
        Column("headers", JSONB, nullable=False),
        Column("value_prefix", LargeBinary, nullable=False),
        Column("value_size", Integer, nullable=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # A consumer that dies before committing the offset reads the message again: one row.
        UniqueConstraint("group_id", "topic", "partition", "offset"),
    )


def dead_letter_row(
    record: ConsumerRecord, *, group_id: str, reason: str, publish_error: BaseException
) -> dict[str, Any]:
    """What the table keeps of a message: bounded, whatever the message's size."""
    value = record.value or b""
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "group_id": group_id,
        "reason": _storable(reason),
        "publish_error": _storable(f"{type(publish_error).__name__}: {publish_error}"[:2000]),
        "key": record.key[:KEY_PREFIX_BYTES] if record.key is not None else None,
        "headers": [
            [
                _storable(name[:200]),
                _storable(
                    (raw or b"")[:HEADER_VALUE_PREFIX_BYTES].decode(errors="backslashreplace")
                ),
            ]
            for name, raw in list(record.headers or ())[:MAX_HEADERS]
        ],
        "value_prefix": value[:VALUE_PREFIX_BYTES],
        "value_size": len(value),
    }


def _storable(text: str) -> str:
    """PostgreSQL's text and JSONB refuse NUL, and a message (or an error quoting it) may carry
    one: a row that cannot be written would stop the consumer like the message did."""
    return text.replace("\x00", "\\x00")


async def publish(
    producer: AIOKafkaProducer,
    record: ConsumerRecord,
    *,
    group_id: str,
    reason: str,
    timeout: float,
) -> None:
    """Send the message to its dead-letter topic and wait for the broker's acknowledgement."""
    headers = [
        *list(record.headers or ()),
        ("dlt.reason", reason.encode()),
        ("dlt.group", group_id.encode()),
        ("dlt.topic", record.topic.encode()),
        ("dlt.partition", str(record.partition).encode()),
        ("dlt.offset", str(record.offset).encode()),
    ]
    await asyncio.wait_for(
        producer.send_and_wait(
            dead_letter_topic(record.topic),
            value=record.value or b"",
            key=record.key,
            headers=headers,
        ),
        timeout,
    )

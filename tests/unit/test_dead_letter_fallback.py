"""When the dead-letter topic does not take a message: the broker refusing the record is told
from the broker being away. A refusal (or failures while the broker answers) records the
message in the database and lets the consumer go on; an outage records nothing and raises, so
that the runner waits for the broker and reads the message again (nothing is lost)."""

from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
)
from sqlalchemy import MetaData

from shared import consumer
from shared.consumer import ConsumerRunner, processed_events_table
from shared.dead_letters import (
    VALUE_PREFIX_BYTES,
    dead_letter_row,
    dead_letters_table,
    refused_by_broker,
)
from shared.kafka_access import KafkaAccess

RECORD = ConsumerRecord(
    topic="accord.plans.events",
    partition=3,
    offset=42,
    timestamp=0,
    timestamp_type=0,
    key=b"k",
    value=b"v" * (VALUE_PREFIX_BYTES + 10),
    checksum=None,
    serialized_key_size=1,
    serialized_value_size=VALUE_PREFIX_BYTES + 10,
    headers=[("ce_type", b"\xff\xfe not utf-8")],
)


class FailingProducer:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.sends = 0

    async def send_and_wait(self, *args: object, **kwargs: object) -> None:
        self.sends += 1
        if self.errors:
            raise self.errors.pop(0)


def runner(*, broker_answering: bool, recorded: list[Exception]) -> ConsumerRunner:
    metadata = MetaData()
    made = ConsumerRunner(
        group_id="accord-test",
        topics=["accord.plans.events"],
        handlers={},
        sessions=cast(Any, None),
        processed_table=processed_events_table(metadata),
        dead_letters_table=dead_letters_table(metadata),
        kafka=KafkaAccess("127.0.0.1:1"),
    )
    made.state.broker_answering = broker_answering

    async def record(record: ConsumerRecord, reason: str, publish_error: Exception) -> None:
        recorded.append(publish_error)

    made._record_dead_letter = record  # type: ignore[method-assign]
    return made


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer, "DEAD_LETTER_RETRY_PAUSE", 0.0)


async def test_a_record_the_broker_refuses_is_recorded_at_once() -> None:
    recorded: list[Exception] = []
    producer = FailingProducer(MessageSizeTooLargeError("too large"))
    # Even while the probe says the broker is away: the refusal is about the record.
    await runner(broker_answering=False, recorded=recorded)._dead_letter(
        RECORD, cast(Any, producer), "malformed envelope", "invalid_event"
    )
    assert producer.sends == 1
    assert [type(e) for e in recorded] == [MessageSizeTooLargeError]


async def test_sends_failing_while_the_broker_answers_are_recorded_after_bounded_tries() -> None:
    recorded: list[Exception] = []
    producer = FailingProducer(*(KafkaTimeoutError() for _ in range(10)))
    await runner(broker_answering=True, recorded=recorded)._dead_letter(
        RECORD, cast(Any, producer), "malformed envelope", "invalid_event"
    )
    assert producer.sends == consumer.DEAD_LETTER_ATTEMPTS
    assert len(recorded) == 1


async def test_a_passing_hiccup_while_the_broker_answers_still_reaches_the_topic() -> None:
    recorded: list[Exception] = []
    made = runner(broker_answering=True, recorded=recorded)
    producer = FailingProducer(NotLeaderForPartitionError())
    await made._dead_letter(RECORD, cast(Any, producer), "malformed envelope", "invalid_event")
    assert producer.sends == 2
    assert recorded == []
    assert made.state.dead_lettered_total == 1


@pytest.mark.parametrize("error", [KafkaConnectionError(), KafkaTimeoutError()])
async def test_a_broker_outage_records_nothing_and_is_waited_out(error: Exception) -> None:
    recorded: list[Exception] = []
    with pytest.raises(type(error)):
        await runner(broker_answering=False, recorded=recorded)._dead_letter(
            RECORD, cast(Any, FailingProducer(error)), "malformed envelope", "invalid_event"
        )
    assert recorded == []


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (MessageSizeTooLargeError(), True),
        (TopicAuthorizationFailedError(), True),
        (KafkaTimeoutError(), False),
        (KafkaConnectionError(), False),
        (NotLeaderForPartitionError(), False),
        (TimeoutError(), False),
    ],
)
def test_which_failures_are_the_records_fault(error: Exception, refused: bool) -> None:
    assert refused_by_broker(error) is refused


def test_the_row_keeps_a_bounded_prefix_and_the_coordinates() -> None:
    row = dead_letter_row(
        RECORD, group_id="accord-test", reason="why", publish_error=MessageSizeTooLargeError("x")
    )
    assert (row["topic"], row["partition"], row["offset"]) == ("accord.plans.events", 3, 42)
    assert row["value_prefix"] == b"v" * VALUE_PREFIX_BYTES
    assert row["value_size"] == VALUE_PREFIX_BYTES + 10
    assert row["headers"] == [["ce_type", "\\xff\\xfe not utf-8"]]
    assert row["publish_error"].startswith("MessageSizeTooLargeError")

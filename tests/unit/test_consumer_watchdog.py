"""The consumer's watchdog against a Kafka client that never learns a partition's position.

Seen in CI after a broker restart: the meetings consumer's group membership stalled, so
aiokafka's ``position()`` waited for a position without limit. The consume loop hung in its lag
measurement and every watchdog probe timed out on it, so the service read as "broker not
answering" (not ready) for good and the consumer was never recreated. A stand-in client makes
that state at will: the broker answers (metadata, end offsets), the position never comes."""

import asyncio
from typing import Any, cast

import pytest
from aiokafka import TopicPartition
from sqlalchemy import MetaData

from shared import consumer
from shared.consumer import ConsumerRunner, ConsumerStalled, processed_events_table
from shared.dead_letters import dead_letters_table
from shared.kafka_access import KafkaAccess

TOPIC = "accord.plans.events"
PARTITIONS = [TopicPartition(TOPIC, p) for p in range(6)]


class NoPositionClient:
    """Answers for the broker; waits forever for every partition's position."""

    def __init__(self) -> None:
        self.position_calls = 0

    async def topics(self) -> set[str]:
        return {TOPIC}

    def assignment(self) -> set[TopicPartition]:
        return set(PARTITIONS)

    def highwater(self, tp: TopicPartition) -> int:
        return 10  # fetched before the broker restart: a stale mark

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 10)

    async def position(self, tp: TopicPartition) -> int:
        self.position_calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@pytest.fixture(autouse=True)
def short_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer, "PROBE_INTERVAL", 0.05)
    monkeypatch.setattr(consumer, "PROBE_TIMEOUT", 1.0)
    monkeypatch.setattr(consumer, "SESSION_TIMEOUT", 0.2)
    monkeypatch.setattr(consumer, "POSITION_WAIT", 0.1)


def _runner(client: NoPositionClient) -> ConsumerRunner:
    metadata = MetaData()
    runner = ConsumerRunner(
        group_id="accord-test-watchdog",
        topics=[TOPIC],
        handlers={},
        sessions=cast(Any, None),
        processed_table=processed_events_table(metadata),
        dead_letters_table=dead_letters_table(metadata),
        kafka=KafkaAccess("127.0.0.1:1"),
        stall_seconds=0.3,
    )
    # What ``run`` and the rebalance listener set once the member had its partitions.
    runner._consumer = cast(Any, client)
    runner._assigned = True
    return runner


async def test_a_position_that_never_comes_recreates_the_consumer_with_the_broker_answering() -> (
    None
):
    client = NoPositionClient()
    runner = _runner(client)
    with pytest.raises(ConsumerStalled, match="lag unknown"):
        await asyncio.wait_for(runner._watch(cast(Any, client)), 10)
    assert client.position_calls > 0
    # The broker answered every probe: readiness follows the broker, the recreation the client.
    assert runner.state.broker_answering


async def test_the_consume_loops_lag_measurement_does_not_wait_for_a_position() -> None:
    client = NoPositionClient()
    runner = _runner(client)
    runner.state.lag = 3
    await asyncio.wait_for(runner._measure_lag(cast(Any, client)), 5)
    assert runner.state.lag is None  # unknown, not a stale figure


async def test_a_scrape_reports_no_lag_for_a_partition_without_a_position() -> None:
    client = NoPositionClient()
    runner = _runner(client)
    # All partitions at once: one wait, well within a scrape's probe budget.
    lags = await asyncio.wait_for(runner.partition_lag(), 1.0)
    assert lags == {(TOPIC, p): None for p in range(6)}

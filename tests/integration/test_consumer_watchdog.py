"""The consumer runner's watchdog, against a real broker: a Kafka client that silently stops
delivering records after broker trouble (CI once saw notifications' consumer read nothing for
ten minutes after a broker restart while its /readyz said ready) is recreated, and what waited
is processed. The client faults are made by hand inside aiokafka's consumer, the three ways such
a client gets stuck: its fetcher stops (the high-water mark it knows goes stale, so lag read
from the client says 0), ``getmany`` waits for a group assignment that never comes, or
``position()`` waits for positions that are never fetched again."""

import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import OffsetResetStrategy

from tests.support.background import in_background
from tests.support.consumer_harness import Harness, harness
from tests.support.kafka import produce, status_changed_event
from tests.support.stack import Infrastructure
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

# Short, so that the watchdog acts within seconds of the fault.
STALL_SECONDS = 2.0


def _stop_fetching(consumer: AIOKafkaConsumer) -> None:
    consumer._fetcher._fetch_task.cancel()


def _wait_for_an_assignment_forever(consumer: AIOKafkaConsumer) -> None:
    # What the group coordinator does before a rejoin; without the rejoin that ends it,
    # getmany waits inside aiokafka with no timeout.
    consumer._subscription.begin_reassignment()


def _lose_every_position(consumer: AIOKafkaConsumer) -> None:
    # What a rejoin does before the committed offsets are fetched again; with the fetcher that
    # would fetch them gone, ``position()`` waits inside aiokafka with no timeout (seen in CI
    # after a broker restart: the watchdog's probe timed out on it, read the broker as silent,
    # and never recreated the client).
    _stop_fetching(consumer)
    assignment = consumer._subscription.subscription.assignment
    for tp in assignment.tps:
        assignment.state_value(tp).await_reset(OffsetResetStrategy.EARLIEST)


@pytest.mark.parametrize(
    "fault", [_stop_fetching, _wait_for_an_assignment_forever, _lose_every_position]
)
async def test_a_client_that_stopped_delivering_records_is_recreated(
    infra: Infrastructure, fault: object
) -> None:
    plan_id = uuid.uuid4()
    key = str(plan_id).encode()
    first, *later = (status_changed_event(plan_id) for _ in range(3))
    async with harness(infra, stall_seconds=STALL_SECONDS) as h:
        await produce(infra.kafka_admin, h.topic, [(key, first.to_bytes())])
        async with in_background(h.runner.run()):
            await eventually(lambda: _applied(h, [first.id]), what="the first event applied")
            stuck = h.runner._consumer
            assert stuck is not None
            fault(stuck)  # type: ignore[operator]
            await produce(infra.kafka_admin, h.topic, [(key, e.to_bytes()) for e in later])
            await eventually(
                lambda: _applied(h, [first.id, *(e.id for e in later)]),
                timeout=60,
                what="the events after the fault applied",
            )
            assert h.runner._consumer is not stuck, "applied by the stuck client?"
            assert h.runner.state.last_error is not None
            assert "no progress" in h.runner.state.last_error or (
                fault is _lose_every_position and "lag unknown" in h.runner.state.last_error
            )


async def _applied(h: Harness, ids: list[str]) -> bool:
    return await h.applied() == sorted(ids)

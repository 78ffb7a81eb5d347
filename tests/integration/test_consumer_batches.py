"""The consumer runner on a topic and a database of each test's own: a partition's batch
applies in one transaction, and when one event of it fails, the others are still applied once
each and only the culprit is dead-lettered; a transaction that loses a race (a deadlock, a
serialization failure) is tried again until it applies, and is never dead-lettered; a message
the dead-letter topic refuses is recorded in the database and the runner goes on."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.consumer import mark_processed_statement
from shared.dead_letters import VALUE_PREFIX_BYTES
from shared.events import CloudEvent
from shared.topics import dead_letter_topic
from tests.support.background import in_background
from tests.support.consumer_harness import Harness, harness
from tests.support.kafka import (
    create_topics,
    just_under_the_size_limit,
    produce,
    read_all,
    status_changed_event,
)
from tests.support.stack import Infrastructure
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_one_failing_event_in_a_batch_is_dead_lettered_and_the_others_apply_once(
    infra: Infrastructure,
) -> None:
    plan_id = uuid.uuid4()
    first, poison, last = (status_changed_event(plan_id) for _ in range(3))
    async with harness(infra, fails=frozenset({poison.id})) as h:
        key = str(plan_id).encode()
        # Produced before the runner starts, so they arrive together in one fetched batch.
        await produce(
            infra.kafka_admin,
            h.topic,
            [(key, e.to_bytes()) for e in (first, poison, first, last)],
        )
        async with in_background(h.runner.run()):

            async def done() -> bool:
                state = h.runner.state
                return state.dead_lettered_total == 1 and state.processed_total == 2

            await eventually(done, what="two applied and one dead-lettered")
            assert await h.applied() == sorted([first.id, last.id])
            assert h.runner.state.duplicates_skipped == 1
            [parked] = await read_all(infra.kafka_admin, dead_letter_topic(h.topic), settle=1)
            headers = {k: v.decode() for k, v in parked.headers}
            assert parked.value == poison.to_bytes()
            assert (
                "handler failed 2 times: RuntimeError: this one never applies"
                in headers["dlt.reason"]
            )
            assert _counted(h, "accord_consumer_events_total", partition="0") == {
                "applied": 2,
                "duplicate": 1,
                "dead_lettered": 1,
            }
            assert _dead_letters_counted(h) == {("handler_failed", "topic"): 1}


async def test_a_batched_handler_takes_the_events_of_a_batch_in_one_call(
    infra: Infrastructure,
) -> None:
    plan_id = uuid.uuid4()
    events = [status_changed_event(plan_id) for _ in range(5)]
    async with harness(infra, batched=True) as h:
        # The event seen twice is applied once.
        await _produce_together(infra, h, [*events, events[0]])
        async with in_background(h.runner.run()):
            await eventually(_state_reads(h, processed_total=5), what="five applied")
            assert h.runs == [5]
            assert await h.applied() == sorted(e.id for e in events)
            assert h.runner.state.duplicates_skipped == 1


async def test_a_batched_handler_takes_one_event_at_a_time_when_its_batch_is_replayed(
    infra: Infrastructure,
) -> None:
    plan_id = uuid.uuid4()
    first, poison, last = (status_changed_event(plan_id) for _ in range(3))
    async with harness(infra, batched=True, fails=frozenset({poison.id})) as h:
        await _produce_together(infra, h, [first, poison, last])
        async with in_background(h.runner.run()):
            await eventually(_state_reads(h, dead_lettered_total=1), what="the poison parked")
            assert await h.applied() == sorted([first.id, last.id])
            # The run of three failed; then first, poison twice (its attempts), last.
            assert h.runs == [3, 1, 1, 1, 1]


def _state_reads(h: Harness, **expected: int) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return all(getattr(h.runner.state, name) == value for name, value in expected.items())

    return probe


async def _produce_together(infra: Infrastructure, h: Harness, events: list[CloudEvent]) -> None:
    # Before the runner starts, so that they arrive in one fetched batch (one partition).
    await produce(infra.kafka_admin, h.topic, [(b"plan", e.to_bytes()) for e in events])


# More times than the attempts a failing handler gets (the batch's try included).
LOST_RACES = 4


@pytest.mark.parametrize(
    "sqlstate", ["40P01", "40001"], ids=["deadlock_detected", "serialization_failure"]
)
async def test_a_transaction_that_loses_a_race_is_tried_again_until_it_applies(
    infra: Infrastructure, sqlstate: str
) -> None:
    """PostgreSQL fails one event's transaction with ``sqlstate`` more times than a failing
    handler may fail: the error comes from the server through asyncpg and SQLAlchemy as a real
    deadlock or serialization failure would. The event still applies, once, and nothing goes
    to the dead-letter topic."""
    plan_id = uuid.uuid4()
    first, raced, last = (status_changed_event(plan_id) for _ in range(3))
    tries: Counter[str] = Counter()

    async def lose_races(session: AsyncSession, event: CloudEvent) -> None:
        tries[event.id] += 1
        if event.id == raced.id and tries[event.id] <= LOST_RACES:
            await session.execute(
                text(
                    "DO $$ BEGIN RAISE EXCEPTION 'lost a race' USING ERRCODE = '"
                    + sqlstate
                    + "'; END $$"
                )
            )

    async with harness(infra, trouble=lose_races) as h:
        await produce(
            infra.kafka_admin,
            h.topic,
            [(str(plan_id).encode(), e.to_bytes()) for e in (first, raced, last)],
        )
        async with in_background(h.runner.run()):

            async def done() -> bool:
                return h.runner.state.processed_total == 3

            await eventually(done, what="three events applied")
            assert h.runner.state.dead_lettered_total == 0
            assert await h.applied() == sorted(e.id for e in (first, raced, last))
            assert tries[raced.id] == LOST_RACES + 1
            assert await read_all(infra.kafka_admin, dead_letter_topic(h.topic), settle=1) == []


async def test_a_message_too_large_for_the_dead_letter_topic_is_recorded_and_the_runner_goes_on(
    infra: Infrastructure,
) -> None:
    """Just under the broker's limit, not an event: it cannot go to the dead-letter topic once
    the dlt.* headers are added. Before the fix the runner recreated its consumer and read
    it again forever, and the event behind it was never applied."""
    plan_id = uuid.uuid4()
    key = str(plan_id).encode()
    marker = uuid.uuid4().hex
    oversized = just_under_the_size_limit(key, marker)
    behind = status_changed_event(plan_id)
    # PostgreSQL refuses NUL in text: the row must be writable whatever the message carries.
    headers = [("nul\x00name", b"nul\x00value \xff")]
    async with harness(infra) as h:
        await produce(
            infra.kafka_admin,
            h.topic,
            [(key, oversized), (key, behind.to_bytes())],
            headers=headers,
        )
        async with in_background(h.runner.run()):

            async def applied() -> bool:
                return await h.applied() == [behind.id]

            await eventually(applied, timeout=60, what="the event behind the oversized one")
            async with h.engine.connect() as connection:
                [row] = (await connection.execute(select(h.dead_letters))).mappings().all()
            assert (row["topic"], row["partition"], row["offset"]) == (h.topic, 0, 0)
            assert row["group_id"] == h.runner.state.group_id
            assert row["reason"].startswith("malformed envelope")
            assert row["publish_error"].startswith("MessageSizeTooLargeError")
            assert row["key"] == key
            assert row["headers"] == [["nul\\x00name", "nul\\x00value \\xff"]]
            assert row["value_size"] == len(oversized)
            assert row["value_prefix"] == oversized[:VALUE_PREFIX_BYTES]
            assert h.runner.state.dead_letters_recorded == 1
            assert _dead_letters_counted(h) == {("invalid_event", "table"): 1}
            assert h.runner.state.dead_lettered_total == 0
            assert await read_all(infra.kafka_admin, dead_letter_topic(h.topic), settle=1) == []


def _counted(h: Harness, name: str, **labels: str) -> dict[str, float]:
    """The runner's non-zero counts of ``name`` by outcome, for its group and topic."""
    counts = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if (
                sample.name == name
                and sample.value
                and sample.labels.get("group") == h.runner.state.group_id
                and sample.labels.get("topic") == h.topic
                and all(sample.labels.get(k) == v for k, v in labels.items())
            ):
                counts[sample.labels["outcome"]] = sample.value
    return counts


def _dead_letters_counted(h: Harness) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["reason"], sample.labels["destination"]): sample.value
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == "accord_consumer_dead_letters_total"
        and sample.value
        and sample.labels["group"] == h.runner.state.group_id
        and sample.labels["topic"] == h.topic
    }


async def test_events_handed_over_but_not_processed_yet_count_as_lag(
    infra: Infrastructure,
) -> None:
    """The metrics' lag is the broker's end offset minus what the runner finished, not minus
    the consumer's position (already past a batch being processed): a handler that hangs
    shows as lag, and the lag goes back to 0 once it is done."""
    plan_id = uuid.uuid4()
    events = [status_changed_event(plan_id) for _ in range(3)]
    release = asyncio.Event()

    async def hang(session: AsyncSession, event: CloudEvent) -> None:
        await release.wait()

    async with harness(infra, trouble=hang) as h:
        await produce(
            infra.kafka_admin,
            h.topic,
            [(str(plan_id).encode(), e.to_bytes()) for e in events],
        )
        async with in_background(h.runner.run()):

            async def lag_of_all_three() -> bool:
                return await h.runner.partition_lag() == {(h.topic, 0): 3}

            await eventually(lag_of_all_three, what="the hung batch counted as lag")
            await asyncio.sleep(1)  # the handler still hangs: the lag stays
            assert await h.runner.partition_lag() == {(h.topic, 0): 3}
            release.set()

            async def caught_up() -> bool:
                return await h.runner.partition_lag() == {(h.topic, 0): 0}

            await eventually(caught_up, what="no lag once the batch is processed")
            assert _counted(h, "accord_consumer_events_total") == {"applied": 3}


async def test_offsets_of_a_partition_the_group_took_away_are_dropped_not_committed(
    infra: Infrastructure,
) -> None:
    """With replicas, a rebalance can take a partition away while its batch is being applied.
    Its offset must then be left to its new owner (which reads it again and skips what was
    applied), not committed: committing a partition not assigned raised IllegalStateError,
    which restarted the consumer, which rebalanced the group again (found by
    tests/integration/test_replicas.py's rolling restart)."""
    async with harness(infra) as h:
        consumer = h.runner._make_consumer()
        await consumer.start()
        try:
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=500)
            (mine,) = consumer.assignment()
            taken_away = TopicPartition(f"{h.topic}.other", 0)
            h.runner._pending = {mine: 0, taken_away: 7}
            await h.runner.commit(consumer)
            assert h.runner._pending == {}
            assert await consumer.committed(mine) == 0
        finally:
            await consumer.stop()


async def test_a_rebalance_while_the_lag_is_measured_does_not_restart_the_consumer(
    infra: Infrastructure,
) -> None:
    """The lag after a fetch awaits each partition's position; a rebalance during that wait can
    take another partition away, and the client's ``highwater`` asserts on a partition it no
    longer holds. That AssertionError restarted a surviving replica's consumer right after its
    sibling came back (found by tests/integration/test_replicas.py's SIGKILL scenario: the
    survivor answered /readyz 503 after the run). Here the group takes a partition away while
    the first position is awaited: the lag is unknown for now, nothing raises."""
    async with harness(infra) as h:
        second = f"{h.topic}.second"
        await create_topics(infra.kafka_admin, second)
        for topic in (h.topic, second):
            event = status_changed_event(uuid.uuid4())
            await produce(infra.kafka_admin, topic, [(b"k", event.to_bytes())])
        consumer = h.runner._make_consumer()
        consumer.subscribe([h.topic, second])
        await consumer.start()
        try:

            def every_mark_known() -> bool:
                assigned = consumer.assignment()
                return len(assigned) == 2 and all(consumer.highwater(tp) for tp in assigned)

            while not every_mark_known():
                await consumer.getmany(timeout_ms=500)
            h.runner._assigned = True
            asked_first = consumer.position

            async def position_while_the_group_rebalances(tp: TopicPartition) -> int:
                consumer.position = asked_first  # type: ignore[method-assign]
                consumer.subscribe([tp.topic])  # the other partition goes

                async def only_this_one() -> bool:
                    return consumer.assignment() == {tp}

                await eventually(only_this_one, what="the group took the other partition away")
                return await asked_first(tp)

            consumer.position = position_while_the_group_rebalances  # type: ignore[method-assign]
            await h.runner._measure_lag(consumer)
            assert h.runner.state.lag is None
        finally:
            await consumer.stop()


async def test_events_are_recorded_as_processed_once_whatever_the_batch(
    infra: Infrastructure,
) -> None:
    """The dedupe statement takes a batch of any size as two arrays: each id it had not
    recorded comes back once (also when a batch holds it twice), one recorded before never."""
    async with harness(infra) as h:
        statement = mark_processed_statement(h.runner._processed)

        async def record(*ids: str) -> list[str]:
            async with h.engine.begin() as connection:
                result = await connection.execute(
                    statement, {"ids": list(ids), "types": ["t"] * len(ids)}
                )
                return sorted(result.scalars())

        assert await record("a", "b", "a") == ["a", "b"]
        assert await record("b", "c") == ["c"]
        assert await record(*(f"e{n}" for n in range(500))) == sorted(f"e{n}" for n in range(500))

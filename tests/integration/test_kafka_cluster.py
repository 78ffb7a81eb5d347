"""Kafka as a cluster of three nodes (decision 37): every partition on three brokers, an
``acks=all`` write held by two before it is acknowledged, no unclean leader election.

Under a steady stream of status changes, the broker that leads the most partitions (the
event topics, their dead-letter topics and the consumer groups' offsets) is SIGKILLed. The
other two take over its partitions and the stream goes on through them; the killed broker is
started again (the stream going on), catches up and rejoins every partition's in-sync
replicas. The fault suite's oracle then checks that nothing acknowledged was lost, that
versions per (delegation, line) never went back, that no webhook-id arrived twice and that
the rollups equal a recount; and no client request failed, since the APIs never wait for
the broker.

Figures (``-s``): seconds from the kill until a change made after it reached notifications
(failover), from the restart until the node was back in every in-sync set (rejoin), and the
events the relay published twice (allowed: consumers skip them; counted to show the cost).
"""

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from deploy.local.kafka import KafkaCluster
from shared.topics import ALL_TOPICS, PLANS_EVENTS, PartitionReplicas, partition_replicas
from tests.support.faults import (
    Driver,
    FaultStack,
    Workload,
    check,
    running_fault_stack,
    time_until_ready,
    write_figures,
)
from tests.support.kafka import read_all
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

BROKERS = 3
# The consumer groups' committed offsets live here: its leader is the groups' coordinator.
OFFSETS_TOPIC = "__consumer_offsets"
# The stream is open-ended: it runs through the kill, the failover and the restart, and
# stops this many changes after the restarted node serves (it then catches up, unhurried).
OPEN_ENDED = 10**9
AFTER_RESTART = 40
# Half the fault suite's rate: the stream runs through a failover of tens of seconds on two
# shared cores, and everything it made must drain within the suite's bound afterwards.
RATE = 10.0


@pytest.fixture(scope="module")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    with running_fault_stack(tmp_path_factory.mktemp("cluster"), brokers=BROKERS) as stack:
        yield stack


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


def cluster_of(stack: FaultStack) -> KafkaCluster:
    kafka = stack.infra.kafka
    assert isinstance(kafka, KafkaCluster)
    return kafka


async def replicas(stack: FaultStack) -> list[PartitionReplicas]:
    return await partition_replicas(stack.infra.kafka_admin, (*ALL_TOPICS, OFFSETS_TOPIC))


async def replicas_if_told(stack: FaultStack) -> list[PartitionReplicas] | None:
    """The replicas, or None when the node asked was the dead one (asked again later)."""
    try:
        return await replicas(stack)
    except KafkaError:
        return None


async def acknowledged(driver: Driver, count: int) -> None:
    await eventually(
        lambda: asyncio.sleep(0, len(driver.acknowledged) >= count),
        timeout=120,
        interval=0.05,
        what=f"{count} changes acknowledged",
    )


async def published(stack: FaultStack, line: str, version: int) -> bool:
    """Whether the plans relay published the change that gave ``line`` its ``version``."""
    found = await stack.scalar(
        "plans",
        "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
        " AND convert_from(payload, 'UTF8')::jsonb->'data'->>'action_line_id' = $1"
        " AND (convert_from(payload, 'UTF8')::jsonb->'data'->>'version')::int = $2",
        line,
        version,
    )
    return bool(found)


async def taken_in(stack: FaultStack, line: str, version: int) -> bool:
    """Whether notifications took in the change that gave ``line`` its ``version``."""
    found = await stack.scalar(
        "notifications",
        "SELECT count(*) FROM received_events WHERE data->>'action_line_id' = $1"
        " AND (data->>'version')::int = $2",
        line,
        version,
    )
    return bool(found)


async def test_topics_are_created_on_three_brokers_with_two_in_sync_required(
    cluster_stack: FaultStack,
) -> None:
    """What the cluster stores: each partition on three different brokers, in sync, and a
    write needs two of them (the topic's own setting, stated at creation)."""
    states = await replicas(cluster_stack)
    assert {state.topic for state in states} == {*ALL_TOPICS, OFFSETS_TOPIC}
    assert all(len(set(state.replicas)) == BROKERS for state in states), states
    assert all(sorted(state.in_sync) == [1, 2, 3] for state in states), states
    admin = AIOKafkaAdminClient(**cluster_stack.infra.kafka_admin.client_options())
    await admin.start()
    try:
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, PLANS_EVENTS)]
        )
    finally:
        await admin.close()
    configs = {entry[0]: entry[1] for entry in response.resources[0][4]}
    assert configs["min.insync.replicas"] == "2"
    assert configs["unclean.leader.election.enable"] == "false"


async def test_the_broker_leading_most_partitions_sigkilled_mid_stream_then_restarted(
    cluster_stack: FaultStack, client: httpx.AsyncClient
) -> None:
    stack = cluster_stack
    cluster = cluster_of(stack)
    await time_until_ready(client, stack, timeout=90)
    workload = await Workload.create(client, stack)
    driver = Driver(client, stack.url("plans"), workload.lines, total=OPEN_ENDED, rate=RATE)
    driving = asyncio.create_task(driver.run())
    try:
        await acknowledged(driver, 40)
        leaders = Counter(state.leader for state in await replicas(stack))
        victim = cluster.node(leaders.most_common(1)[0][0])
        at_kill = len(driver.acknowledged)
        killed_at = time.monotonic()
        await asyncio.to_thread(victim.kill)

        # Its partitions get new leaders among the survivors, each with a write quorum.
        async def led_by_survivors() -> bool:
            states = await replicas_if_told(stack)
            return states is not None and all(
                s.leader not in (victim.node_id, -1) and len(s.in_sync) >= 2 for s in states
            )

        await eventually(led_by_survivors, timeout=60, what="every partition led by a survivor")
        stages = {"leaders_moved": time.monotonic() - killed_at}
        # Failover: a change acknowledged after the kill goes through the survivors.
        await acknowledged(driver, at_kill + 1)
        line, version = driver.acknowledged[at_kill]
        await eventually(
            lambda: published(stack, line, version), timeout=120, interval=0.1, what="published"
        )
        stages["relay_published"] = time.monotonic() - killed_at
        await eventually(
            lambda: taken_in(stack, line, version),
            timeout=120,
            interval=0.1,
            what="a change made after the kill taken in by notifications",
        )
        failover = time.monotonic() - killed_at
        await acknowledged(driver, len(driver.acknowledged) + 20)

        restarted_at = time.monotonic()
        await asyncio.to_thread(victim.start)
        await acknowledged(driver, len(driver.acknowledged) + AFTER_RESTART)
    finally:
        driver.stop()
        await asyncio.gather(driving, return_exceptions=True)

    async def rejoined() -> bool:
        states = await replicas_if_told(stack)
        return states is not None and all(victim.node_id in s.in_sync for s in states)

    await eventually(rejoined, timeout=120, what="the restarted broker in every in-sync set")
    rejoin = time.monotonic() - restarted_at

    figures = await check(
        client, stack, workload, driver, scenario="cluster: leading broker SIGKILL + restart",
        recovery_seconds=failover,
    )  # fmt: skip
    ids = Counter(
        json.loads(record.value)["id"]
        for record in await read_all(stack.infra.kafka_admin, PLANS_EVENTS)
        if record.key == workload.plan_id.encode()
    )
    published_twice = sum(n - 1 for n in ids.values() if n > 1)
    write_figures(
        stack.infra.runtime_dir,
        f"{figures.report()} killed=broker {victim.node_id} (led {leaders[victim.node_id]}"
        f" of {sum(leaders.values())} partitions) failover={failover:.1f}s"
        f" ({', '.join(f'{k} {v:.1f}s' for k, v in stages.items())})"
        f" rejoin={rejoin:.1f}s events_published_twice={published_twice}",
    )
    # The APIs write to their databases only: losing a broker fails no client request.
    assert figures.failed_requests == 0

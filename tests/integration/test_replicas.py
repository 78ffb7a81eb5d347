"""Every service as two replicas behind HAProxy, under the fault suite's steady stream of
status changes and its oracle (``tests/support/faults.py``): a replica of every role
SIGKILLed; a rolling restart of every replica with SIGTERM through the proxy; the relay's
leader killed. Figures go to the run's ``faults-figures.txt`` (shown with ``-s``).

``ACCORD_FAULTS_BIG=1`` runs the big stream of the fault suite here too;
``ACCORD_REPLICAS_FIGURES=1`` adds the throughput with one and with two replicas and the share
of the work each replica did (a figure, not a check).
"""

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.faults import (
    BIG,
    CHANGES,
    Driver,
    Workload,
    check,
    secretariat,
    time_until_ready,
    write_figures,
)
from tests.support.receiver import Receiver
from tests.support.replicas import ReplicaStack
from tests.support.stack import SERVICE_NAMES, new_infrastructure
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

OPEN_ENDED = 10**9
# Changes made after the last restart, so the stream runs before, during and after.
AFTER_THE_LAST = 60


@pytest.fixture(scope="module")
def replica_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaStack]:
    infra = new_infrastructure(tmp_path_factory.mktemp("replicas"))
    with Receiver().running() as receiver:
        stack = ReplicaStack(infra, receiver, replicas=2)
        try:
            infra.start()
            asyncio.run(infra.create_topics())
            stack.start_services()
            yield stack
        finally:
            stack.stop_all()
            infra.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


async def _all_in_rotation(stack: ReplicaStack) -> bool:
    return all(stack.in_rotation(name, index) for name, index, _ in stack.all_replicas())


async def _when(driver: Driver, changes: int) -> None:
    await eventually(
        lambda: asyncio.sleep(0, len(driver.acknowledged) >= changes),
        timeout=120,
        interval=0.05,
        what=f"{changes} changes acknowledged",
    )


async def test_sigkill_one_replica_of_every_role_loses_nothing(
    replica_stack: ReplicaStack, client: httpx.AsyncClient
) -> None:
    """The first replica of each service (api, relay, consumer, dispatcher, and the plans
    relay's leader among them or not) SIGKILLed a quarter into the stream: the other replicas
    carry on (the proxy retries a refused connection elsewhere; the standby relay takes the
    lock; the group gives the dead member's partitions to the live one after its session;
    leases of the dead dispatcher come due again), and nothing is lost, no version goes
    backwards, a webhook-id arrives twice only as a resend of an attempt never recorded."""
    stack = replica_stack
    await eventually(lambda: _all_in_rotation(stack), timeout=60, what="every replica in rotation")
    workload = await Workload.create(client, stack)
    driver = Driver(client, stack.url("plans"), workload.lines, total=CHANGES)
    driving = asyncio.create_task(driver.run())
    try:
        await _when(driver, CHANGES // 4)
        for name in SERVICE_NAMES:
            await asyncio.to_thread(stack.replicas[name][0].kill)
        killed_at = time.monotonic()
        # The survivors publish alone: the plans relay's lock moves to the live replica.
        await eventually(
            lambda: _leader_is(stack, client, "plans", 1), timeout=60, what="replica 2 leads"
        )
        failover = time.monotonic() - killed_at
        await asyncio.wait_for(asyncio.shield(driving), 300)
    finally:
        driver.stop()
        await asyncio.gather(driving, return_exceptions=True)
        for name in SERVICE_NAMES:
            await asyncio.to_thread(stack.replicas[name][0].start, 60)
    figures = await check(
        client,
        stack,
        workload,
        driver,
        scenario="SIGKILL one replica of each service (2 replicas)",
        recovery_seconds=failover,
        duplicates_allowed=True,
    )
    write_figures(stack.infra.runtime_dir, figures)


async def _back_in_rotation(stack: ReplicaStack, name: str, index: int) -> None:
    async def in_rotation() -> bool:
        return stack.in_rotation(name, index)

    await eventually(in_rotation, timeout=60, what=f"{name} replica {index + 1} in rotation")


async def _leader_is(
    stack: ReplicaStack, http: httpx.AsyncClient, service: str, index: int
) -> bool:
    return await stack.relay_leaders(http, service) == [index]


@pytest.mark.timeout(600)
async def test_rolling_restart_through_the_proxy_fails_no_request(
    replica_stack: ReplicaStack, client: httpx.AsyncClient
) -> None:
    """Every replica restarted with SIGTERM while changes go through the proxy, one replica
    of each service at a time (the services side by side, as a Deployment per service
    would): it drains (readiness 503, the proxy takes it out), finishes what is in flight,
    hands its relay lock, partitions and leases over, and is back in rotation before its
    service's next replica goes. Not one client request fails, nothing is lost, nothing
    arrives twice."""
    stack = replica_stack
    await time_until_ready(client, stack)
    await eventually(lambda: _all_in_rotation(stack), timeout=60, what="every replica in rotation")
    workload = await Workload.create(client, stack)
    driver = Driver(client, stack.url("plans"), workload.lines, total=OPEN_ENDED)
    driving = asyncio.create_task(driver.run())
    took: dict[str, float] = {}
    try:
        await _when(driver, 20)
        for index in range(len(stack.replicas["plans"])):
            await asyncio.gather(*(_restart(stack, name, index, took) for name in SERVICE_NAMES))
        await _when(driver, len(driver.acknowledged) + AFTER_THE_LAST)
    finally:
        driver.stop()
        await asyncio.gather(driving, return_exceptions=True)
    figures = await check(
        client,
        stack,
        workload,
        driver,
        scenario="rolling restart, SIGTERM, 2 replicas",
        recovery_seconds=max(v for k, v in took.items() if k.endswith("back")),
    )
    write_figures(stack.infra.runtime_dir, figures)
    write_figures(stack.infra.runtime_dir, f"[replicas] restart seconds: {took}")
    assert driver.failures == 0, f"{driver.failures} client requests failed during the restart"


async def _restart(stack: ReplicaStack, name: str, index: int, took: dict[str, float]) -> None:
    """SIGTERM one replica, start it again, wait until the proxy sends it requests; the
    seconds its stop took (drain included) and until it was back."""
    process = stack.replicas[name][index]
    started = time.monotonic()
    await asyncio.to_thread(process.stop, 60)
    took[f"{process.name} stop"] = round(time.monotonic() - started, 1)
    await asyncio.to_thread(process.start, 90)
    await _back_in_rotation(stack, name, index)
    took[f"{process.name} back"] = round(time.monotonic() - started, 1)


async def test_relay_leader_killed_the_standby_publishes(
    replica_stack: ReplicaStack, client: httpx.AsyncClient
) -> None:
    """The plans relay's leader SIGKILLed: a change made right after (through the proxy, to
    the live replica) is published by the standby, which takes the lock within its poll."""
    stack = replica_stack
    await time_until_ready(client, stack)
    leaders = await eventually(
        lambda: stack.relay_leaders(client, "plans"), timeout=30, what="a plans relay leader"
    )
    assert len(leaders) == 1, f"more than one relay leader: {leaders}"
    leader = leaders[0]
    workload = await Workload.create(client, stack, lines=1, delegations=1)
    line = workload.lines[0]

    async def published() -> bool:
        waiting = await stack.scalar(
            "plans", "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        )
        return waiting == 0

    await eventually(published, timeout=60, what="the workload's events published")
    await asyncio.to_thread(stack.replicas["plans"][leader].kill)
    killed_at = time.monotonic()
    try:
        response = await client.patch(
            f"{stack.url('plans')}/action-lines/{line['id']}/status",
            json={"status": "ongoing", "expected_version": line["version"]},
            headers=secretariat(),
        )
        assert response.status_code == 200, response.text
        await eventually(published, timeout=60, interval=0.05, what="the standby published")
        failover = time.monotonic() - killed_at
        assert await stack.relay_leaders(client, "plans") == [1 - leader]
    finally:
        await asyncio.to_thread(stack.replicas["plans"][leader].start, 60)
    write_figures(
        stack.infra.runtime_dir,
        f"[replicas] relay leader SIGKILLed: the standby published {failover:.1f} s later",
    )


FIGURES = os.environ.get("ACCORD_REPLICAS_FIGURES") == "1"
FIGURES_CHANGES = 2000 if BIG else 600


@pytest.mark.skipif(not FIGURES, reason="a figure, not a check: ACCORD_REPLICAS_FIGURES=1")
@pytest.mark.timeout(900)
async def test_throughput_with_one_and_two_replicas_and_the_share_of_each(
    replica_stack: ReplicaStack, client: httpx.AsyncClient
) -> None:
    """The whole pipeline (status change through the proxy -> plans' relay -> notifications'
    consumer -> webhook to each of 2 delegations) as fast as 16 clients make changes, with one
    replica of each service, then two; per replica, the events its consumer applied and the
    deliveries its dispatcher finished. Figures only, printed and written to the run's
    faults-figures.txt."""
    stack = replica_stack
    second = [process for _, index, process in stack.all_replicas() if index == 1]
    for process in second:
        await asyncio.to_thread(process.stop, 60)
    try:
        one = await _measure(stack, client, "1 replica")
    finally:
        for process in second:
            await asyncio.to_thread(process.start, 60)
    await eventually(lambda: _all_in_rotation(stack), timeout=60, what="every replica in rotation")
    two = await _measure(stack, client, "2 replicas")
    write_figures(stack.infra.runtime_dir, one)
    write_figures(stack.infra.runtime_dir, two)


async def _measure(stack: ReplicaStack, http: httpx.AsyncClient, label: str) -> str:
    await time_until_ready(http, stack)
    workload = await Workload.create(http, stack, lines=160)
    before = await stack.work_shares(http)
    driver = Driver(
        http, stack.url("plans"), workload.lines, total=FIGURES_CHANGES, rate=1000.0, workers=16
    )
    started = time.monotonic()
    await driver.run()
    made = time.monotonic() - started
    # At full speed on a loaded machine an attempt can outlive its deadline and be sent
    # again: allowed, as in the fault suite, when the dispatcher did not see it succeed.
    figures = await check(
        http,
        stack,
        workload,
        driver,
        scenario=f"throughput, {label}",
        recovery_seconds=0,
        duplicates_allowed=True,
    )
    total = made + figures.drain_seconds
    after = await stack.work_shares(http)
    shares = {k: round(after[k] - before.get(k, 0)) for k in after}
    return (
        f"[replicas] {label}: {FIGURES_CHANGES} changes made in {made:.1f} s"
        f" ({FIGURES_CHANGES / made:.0f}/s accepted), all delivered to 2 delegations"
        f" {total:.1f} s after the first ({FIGURES_CHANGES / total:.0f} changes/s end to end,"
        f" {figures.webhooks_accepted / total:.0f} webhooks/s); work per replica: {shares}"
    )

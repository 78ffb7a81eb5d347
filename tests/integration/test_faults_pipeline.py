"""Faults the system must survive (RELIABILITY.md), each against a steady stream of status
changes on a stack of these tests' own (see ``tests/support/faults.py``).

Covered elsewhere, not repeated here:
- a receiver answering 503/5xx, then 200 (every change arrives, same webhook-ids,
  Retry-After honoured) and a 410 (endpoint disabled):
  ``test_notifications_delivery.py``;
- a malformed message on each topic (dead-lettered with the reason, the group goes on):
  ``test_consumer_guarantees.py`` (every group, plans and meetings topics).
"""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest

from tests.support.faults import (
    Driver,
    FaultStack,
    Workload,
    all_ready,
    check,
    time_until_ready,
    write_figures,
)
from tests.support.receiver import Receiver
from tests.support.stack import SERVICE_NAMES, new_infrastructure
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

# A fault is a coroutine run while the driver is making changes; it heals what it broke and
# returns the seconds from healing until every service was ready again.
Fault = Callable[[FaultStack, httpx.AsyncClient, Driver], Awaitable[float]]


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """A PostgreSQL, a Kafka broker and the three services of these tests only: the session's
    stack is never disturbed by what they kill."""
    infra = new_infrastructure(tmp_path_factory.mktemp("faults"))
    with Receiver().running() as receiver:
        stack = FaultStack(infra, receiver)
        try:
            infra.start()
            asyncio.run(infra.create_topics())
            stack.start_services()
            yield stack
        finally:
            stack.services.stop_all()
            infra.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


async def _when_acknowledged(driver: Driver, share: float) -> None:
    """Until ``share`` of the run's changes are acknowledged: the fault lands mid-stream."""
    await eventually(
        lambda: asyncio.sleep(0, len(driver.acknowledged) >= share * driver.total),
        timeout=120,
        interval=0.05,
        what=f"{share:.0%} of the changes acknowledged",
    )


async def _run(
    stack: FaultStack,
    http: httpx.AsyncClient,
    scenario: str,
    fault: Fault,
    *,
    duplicates_allowed: bool = False,
) -> None:
    assert await all_ready(http, stack), "the stack is not ready before the scenario"
    workload = await Workload.create(http, stack)
    driver = Driver(http, stack.url("plans"), workload.lines)
    driving = asyncio.create_task(driver.run())
    try:
        recovery = await fault(stack, http, driver)
        await asyncio.wait_for(asyncio.shield(driving), 600)
    finally:
        driver.stop()
        await asyncio.gather(driving, return_exceptions=True)
    figures = await check(
        http,
        stack,
        workload,
        driver,
        scenario=scenario,
        recovery_seconds=recovery,
        duplicates_allowed=duplicates_allowed,
    )
    write_figures(stack.infra.runtime_dir, figures)


async def test_broker_sigkill_mid_stream_then_restart(
    fault_stack: FaultStack, client: httpx.AsyncClient
) -> None:
    async def fault(stack: FaultStack, http: httpx.AsyncClient, driver: Driver) -> float:
        await _when_acknowledged(driver, 0.25)
        await asyncio.to_thread(stack.infra.kafka.kill)
        await asyncio.sleep(3)  # the outage itself: changes keep being made meanwhile
        await asyncio.to_thread(stack.infra.kafka.start)
        return await time_until_ready(http, stack)

    before = fault_stack.pids()
    await _run(fault_stack, client, "broker SIGKILL + restart", fault)
    assert fault_stack.pids() == before, "a service was restarted"


async def test_broker_frozen_longer_than_the_session_timeout_then_resumed(
    fault_stack: FaultStack, client: httpx.AsyncClient
) -> None:
    """SIGSTOP for 20 s (the consumers' session timeout is 15 s), then SIGCONT.

    What is asserted: consumption resumes and everything drains with the same service
    processes (no restart), /healthz of every consumer answers 200 with lag 0 afterwards and
    /readyz 200. During the freeze /healthz may stay 200: the lag is measured against the
    last high-water mark the consumer fetched, and a frozen broker sends none, so a stall
    shows only once the broker answers again with lag the consumer does not work off (the
    stall limit is 30 s in the tests). The states seen are recorded in the figures file."""
    seen: list[int] = []

    async def fault(stack: FaultStack, http: httpx.AsyncClient, driver: Driver) -> float:
        await _when_acknowledged(driver, 0.25)
        stack.infra.kafka.pause()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                response = await http.get(f"{stack.url('notifications')}/healthz")
                seen.append(response.status_code)
                await asyncio.sleep(1)
        finally:
            stack.infra.kafka.resume()
        return await time_until_ready(http, stack)

    before = fault_stack.pids()
    await _run(fault_stack, client, "broker SIGSTOP 20s + SIGCONT", fault)
    assert fault_stack.pids() == before, "a service was restarted"
    for name in SERVICE_NAMES:
        response = await client.get(f"{fault_stack.url(name)}/healthz")
        assert response.status_code == 200, (name, response.text)
    seen_line = f"[faults] notifications /healthz during the freeze: {dict(Counter(seen))}"
    print(seen_line)
    with (fault_stack.infra.runtime_dir / "faults-figures.txt").open("a") as out:
        out.write(seen_line + "\n")


async def test_postgres_restarted_mid_run(
    fault_stack: FaultStack, client: httpx.AsyncClient
) -> None:
    async def fault(stack: FaultStack, http: httpx.AsyncClient, driver: Driver) -> float:
        await _when_acknowledged(driver, 0.25)
        await asyncio.to_thread(stack.infra.postgres.stop)
        await asyncio.sleep(2)
        await asyncio.to_thread(stack.infra.postgres.start)
        return await time_until_ready(http, stack)

    before = fault_stack.pids()
    await _run(fault_stack, client, "PostgreSQL restart", fault)
    assert fault_stack.pids() == before, "a service was restarted"


async def test_plans_and_its_relay_sigkilled_mid_stream_several_times(
    fault_stack: FaultStack, client: httpx.AsyncClient
) -> None:
    async def fault(stack: FaultStack, http: httpx.AsyncClient, driver: Driver) -> float:
        recovery = 0.0
        for share in (0.2, 0.45, 0.7):
            await _when_acknowledged(driver, share)
            await asyncio.to_thread(stack.process("plans").kill)
            started = time.monotonic()
            await asyncio.to_thread(stack.restart, "plans")
            await time_until_ready(http, stack)
            recovery = max(recovery, time.monotonic() - started)
        return recovery

    await _run(fault_stack, client, "plans SIGKILL x3 + restart", fault)


async def test_notifications_sigkilled_mid_stream_several_times(
    fault_stack: FaultStack, client: httpx.AsyncClient
) -> None:
    """The consumer dies between its database commits and its offset commits (every 0.5 s),
    the dispatcher with deliveries in flight: redeliveries of an in-flight delivery carry the
    same webhook-id (so a receiver may see an id twice here, never one change under two
    ids), and no change is lost."""

    async def fault(stack: FaultStack, http: httpx.AsyncClient, driver: Driver) -> float:
        recovery = 0.0
        for share in (0.2, 0.45, 0.7):
            await _when_acknowledged(driver, share)
            await asyncio.to_thread(stack.process("notifications").kill)
            started = time.monotonic()
            await asyncio.to_thread(stack.restart, "notifications")
            await time_until_ready(http, stack)
            recovery = max(recovery, time.monotonic() - started)
        return recovery

    await _run(
        fault_stack, client, "notifications SIGKILL x3 + restart", fault, duplicates_allowed=True
    )


async def test_broker_down_when_the_services_start(
    fault_stack: FaultStack, client: httpx.AsyncClient
) -> None:
    async def fault(stack: FaultStack, http: httpx.AsyncClient, driver: Driver) -> float:
        await _when_acknowledged(driver, 0.1)
        await asyncio.to_thread(stack.services.stop_all)
        await asyncio.to_thread(stack.infra.kafka.stop)
        await asyncio.to_thread(stack.start_services)
        for name in SERVICE_NAMES:
            response = await http.get(f"{stack.url(name)}/readyz")
            assert response.status_code == 503, (name, response.text)
            assert response.json()["checks"] == {"database": True, "kafka": False}
        await _when_acknowledged(driver, 0.5)  # changes accepted without a broker
        await asyncio.to_thread(stack.infra.kafka.start)
        return await time_until_ready(http, stack)

    await _run(fault_stack, client, "broker down at service start", fault)

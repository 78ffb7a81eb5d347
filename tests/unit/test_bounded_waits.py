"""Waits on Kafka clients that end when they say, against code that swallows its cancellation
the way aiokafka's shutdown and background routines do (``suppress(CancelledError)``).

Seen in CI: the consumer watchdog's test hung until pytest's 300 s limit right after the
consumer had been recreated; the runner cancelled its consume loop and watchdog and gathered
them, and stopped its clients with ``wait_for``, both of which wait without a bound for a
cancelled task to end."""

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest

from shared import consumer
from shared.bounded import cancel_all, finish_quietly

# Far beyond every bound below: a test that reaches it has hung.
HUNG = 5.0


class Stubborn:
    """A coroutine that ignores every cancellation until released."""

    def __init__(self) -> None:
        self.released = False
        self.cancellations = 0
        self.tasks: list[asyncio.Task[Any]] = []

    async def run(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        while not self.released:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancellations += 1


async def _within(job: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run ``job`` to its end and return its task; fail if it is still running at HUNG."""
    task = asyncio.ensure_future(job)
    done, _ = await asyncio.wait({task}, timeout=HUNG)
    assert done, "still waiting: the bound did not hold"
    return task


@pytest.fixture
async def stubborn() -> AsyncIterator[Stubborn]:
    stubborn = Stubborn()
    yield stubborn
    stubborn.released = True  # passed or not, nothing keeps running after the test
    for task in stubborn.tasks:
        task.cancel()
    await asyncio.gather(*stubborn.tasks, return_exceptions=True)


async def test_a_stop_that_swallows_its_cancellation_is_left_behind_after_its_bound(
    stubborn: Stubborn,
) -> None:
    task = await _within(finish_quietly(stubborn.run(), 0.2, what="client stop"))
    assert task.exception() is None
    assert stubborn.cancellations == 1  # told to stop, once, then left


async def test_errors_of_a_stop_are_not_raised() -> None:
    async def failing() -> None:
        raise ConnectionError("the broker went away")

    task = await _within(finish_quietly(failing(), 1, what="client stop"))
    assert task.exception() is None


async def test_cancel_all_returns_after_its_bound_when_a_task_goes_on(stubborn: Stubborn) -> None:
    quick = asyncio.ensure_future(asyncio.sleep(3600))
    slow = asyncio.ensure_future(stubborn.run())
    await asyncio.sleep(0)
    await _within(cancel_all([quick, slow], 0.2, what="pair"))
    assert quick.cancelled()
    assert not slow.done()


async def test_the_consume_loop_and_watchdog_pair_ends_although_one_ignores_its_cancellation(
    monkeypatch: pytest.MonkeyPatch, stubborn: Stubborn
) -> None:
    # The watchdog raises (a stalled client); the consume loop is inside a Kafka call that
    # swallows the cancellation. The runner must still get the error to recreate the clients.
    monkeypatch.setattr(consumer, "STOP_WAIT", 0.2)

    async def watchdog() -> None:
        await asyncio.sleep(0.05)
        raise consumer.ConsumerStalled("lag 2 and no progress for 2s")

    task = await _within(consumer._first_to_end(stubborn.run(), watchdog()))
    assert isinstance(task.exception(), consumer.ConsumerStalled)

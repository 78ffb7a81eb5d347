"""Running a long-lived job (a consumer runner, a dispatcher) for the length of a block."""

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from shared.bounded import where

# How long the job may take to end once cancelled; every shutdown step of ours is bounded by
# less (shared/bounded.py), so going past it means something waits without a bound.
END_WITHIN = 60.0


@asynccontextmanager
async def in_background(job: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``job`` as a task inside the block; cancel it and wait for it on the way out. A job
    that does not end within ``END_WITHIN`` fails the test with the stack of every task,
    rather than hanging until the suite's own timeout, which shows only threads."""
    task = asyncio.create_task(job)
    try:
        yield
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=END_WITHIN)
        if not done:
            raise AssertionError(
                f"the background job did not end within {END_WITHIN:.0f}s of its cancellation;"
                f" the tasks:\n{_stacks()}"
            )
        if not task.cancelled():
            task.exception()  # read, not raised: the block's own outcome is what the test says


def _stacks() -> str:
    return "".join(
        f"--- {task.get_name()}: {task.get_coro()!r}\n{where(task)}" for task in asyncio.all_tasks()
    )

"""Benchmarks stopped with SIGTERM stop what they started, as with Ctrl-C.

Python's default SIGTERM ends the process at once: no ``finally`` runs, so a benchmark killed
that way left its PostgreSQL and Kafka running. Each entry point runs its work through
``stoppable``, which turns SIGTERM into a cancellation of that work.
"""

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def stoppable(work: Coroutine[Any, Any, T]) -> T:
    """``work``, cancelled by SIGTERM while it runs (its ``finally`` blocks then run)."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await task
    finally:
        loop.remove_signal_handler(signal.SIGTERM)

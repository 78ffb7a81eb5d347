"""Waits that end when they say, even when the code waited on swallows its cancellation.

``asyncio.wait_for`` cancels what timed out and then waits, without a bound, for it to end; so
does cancelling a task and gathering it. aiokafka's clients catch ``CancelledError`` in several
places of their shutdown and background routines (``with suppress(CancelledError): await
task`` inside ``stop()``, fetch and heartbeat routines that ``pass`` on it): a cancelled
``stop()`` can carry on into a step that never returns. Awaited that way, one stuck client
would stop a consumer or a relay for ever. Here the bound holds: what did not end in time is
cancelled and left behind (logged), and the caller goes on.
"""

import asyncio
import contextlib
import io
from collections.abc import Awaitable, Iterable
from typing import Any

import structlog

log = structlog.get_logger()


async def finish_quietly(step: Awaitable[Any], seconds: float, *, what: str) -> None:
    """Await ``step`` for at most ``seconds``, ignoring its errors (a client's ``stop()`` on
    the way out); past the bound, cancel it and return without waiting for it. Cancelled
    meanwhile, cancel it too and re-raise."""
    task = asyncio.ensure_future(step)
    task.add_done_callback(_retrieve)
    try:
        await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():
            task.cancel()
            log.warning("left_behind", what=what, seconds=seconds)


async def cancel_all(tasks: Iterable[asyncio.Task[Any]], seconds: float, *, what: str) -> None:
    """Cancel ``tasks`` and wait up to ``seconds`` for them to end; those that go on past it
    (they swallowed the cancellation) are left behind, logged. Their errors are not raised."""
    tasks = list(tasks)
    for task in tasks:
        task.add_done_callback(_retrieve)
        task.cancel()
    pending = [task for task in tasks if not task.done()]
    if not pending:
        return
    _, still = await asyncio.wait(pending, timeout=seconds)
    for task in still:
        log.warning("left_behind", what=what, seconds=seconds, where=where(task))


def where(task: asyncio.Task[Any]) -> str:
    """Where ``task`` waits (its innermost frames), for whoever reads why it did not end."""
    out = io.StringIO()
    task.print_stack(limit=8, file=out)
    return out.getvalue()


def _retrieve(task: asyncio.Future[Any]) -> None:
    # Read the outcome so that asyncio does not report an exception "never retrieved".
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()

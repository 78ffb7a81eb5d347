"""What a service's process runs, and how it stops.

Roles: a process runs any subset of its service's roles (``ACCORD_ROLES``, all by default):
``api`` (the routes), ``relay`` (the outbox relay), ``consumer`` (the consumer group) and,
for notifications, ``dispatcher`` (webhook deliveries and the digests). Each role can run as
several replicas against the same database and broker: the relay's advisory lock keeps one
publisher per database, the consumer group shares the partitions, the dispatcher's claims
skip each other's rows. Every process serves ``/healthz``, ``/readyz`` and ``/metrics``,
whatever its roles, so an orchestrator probes them all alike.

Stopping (SIGTERM): readiness answers 503 ``draining`` at once, the HTTP server keeps serving
for ``ACCORD_SHUTDOWN_DRAIN_SECONDS`` (long enough for a proxy's health check to take the
process out), then stops accepting and finishes what is in flight; then the app's workers
are asked to stop (the relay finishes its batch and releases its lock, the consumer commits
what it applied and leaves its group, the dispatcher finishes its attempts and hands back
the rest) and given ``ACCORD_SHUTDOWN_GRACE_SECONDS`` before they are cancelled.
"""

import asyncio
import threading
from collections.abc import Callable, Coroutine
from enum import StrEnum
from types import FrameType
from typing import Any

import structlog
import uvicorn

from shared.bounded import cancel_all, where

log = structlog.get_logger(__name__)

# How long a graceful job cancelled after its grace may take to end before it is left behind.
CANCEL_WAIT = 5.0


class Role(StrEnum):
    API = "api"
    RELAY = "relay"
    CONSUMER = "consumer"
    DISPATCHER = "dispatcher"


ALL_ROLES = frozenset(Role)


def parse_roles(text: str) -> frozenset[Role]:
    """``api,relay`` -> the roles; empty: all of them. An unknown name is refused."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        return ALL_ROLES
    unknown = [name for name in names if name not in {role.value for role in Role}]
    if unknown:
        known = ", ".join(role.value for role in Role)
        raise ValueError(f"ACCORD_ROLES: unknown role(s) {', '.join(unknown)} (known: {known})")
    return frozenset(Role(name) for name in names)


# Set when the process was asked to stop: /readyz answers 503 from then on. A threading
# event: the signal handler sets it outside the event loop.
draining = threading.Event()


class DrainingServer(uvicorn.Server):
    """uvicorn's server, but the first SIGTERM or SIGINT only marks the process draining; it
    stops accepting ``drain_seconds`` later (a second signal: at once)."""

    def __init__(self, config: uvicorn.Config, drain_seconds: float) -> None:
        super().__init__(config)
        self._drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if draining.is_set() or self._drain_seconds <= 0:
            draining.set()
            super().handle_exit(sig, frame)
            return
        draining.set()
        log.info("service_draining", seconds=self._drain_seconds)
        timer = threading.Timer(self._drain_seconds, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()


async def stop_within(tasks: list[asyncio.Task[None]], grace: float) -> None:
    """Wait up to ``grace`` seconds for ``tasks`` (already asked to stop) to end, then cancel
    whatever still runs (leaving behind, after ``CANCEL_WAIT``, what ignores it)."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        # Where it was stuck, for whoever reads why a stop took the whole grace period.
        log.warning("shutdown_grace_exceeded", cancelled=task.get_name(), where=where(task))
    await cancel_all(tasks, CANCEL_WAIT, what="graceful job")


async def run_until_stopped(
    work: Coroutine[Any, Any, None], stop: Callable[[], None], stopping: asyncio.Event
) -> None:
    """Run ``work``, calling ``stop`` (which makes it end by itself) once ``stopping`` is set:
    for a graceful job of ``shared.service.Job``."""
    watcher = asyncio.create_task(stopping.wait())
    watcher.add_done_callback(lambda task: None if task.cancelled() else stop())
    try:
        await work
    finally:
        watcher.cancel()

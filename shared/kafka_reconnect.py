"""Exponential backoff with jitter for every new connection our Kafka clients open.

aiokafka 0.14 has no ``reconnect.backoff.ms`` / ``reconnect.backoff.max.ms``: while a broker
is down, each of a process's clients (consumer, its coordinator and fetcher, the producers,
the probes) tries to connect again every ``retry_backoff_ms`` (100 ms), dozens of attempts a
second per process. Each attempt over loopback takes an ephemeral source port, and one that
happens to equal the broker's own port connects to itself and keeps the broker from binding
when it comes back (the ports are now outside the ephemeral range as well, see
``deploy/local/processes.py``); the attempts also flood the logs.

``install()`` wraps ``aiokafka.client.create_conn``, through which aiokafka makes every
connection (bootstrap and per node): per broker address, one process-wide ``AddressGate``
lets one attempt through, and after a failure holds the next ones back for a doubling,
jittered pause (``shared.backoff.Backoff``). A success opens the gate again at once.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiokafka.client

from shared.backoff import Backoff

# Java's client defaults are 50 ms and 1 s; a longer ceiling since nothing here needs to
# notice a returning broker within a second, and readiness follows within one more pause.
FIRST_PAUSE = 0.1
LONGEST_PAUSE = 5.0
# Longer than any client's request timeout (aiokafka's default is 40 s).
ATTEMPT_LEASE = 60.0

ConnectionFactory = Callable[..., Awaitable[Any]]


class AddressGate:
    """When the next connection attempt to one broker address may start: one attempt at a
    time, and after a failure not before a pause that doubles up to a ceiling, with jitter."""

    def __init__(
        self,
        first: float = FIRST_PAUSE,
        ceiling: float = LONGEST_PAUSE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backoff = Backoff(first, ceiling)
        self._clock = clock
        self._not_before = 0.0

    def claim(self) -> float:
        """0 when an attempt may start now (the caller then owes ``succeeded`` or ``failed``);
        else the seconds to wait before asking again."""
        now = self._clock()
        if now < self._not_before:
            return self._not_before - now
        # Others wait while this attempt runs; the lease only matters if it never reports.
        self._not_before = now + ATTEMPT_LEASE
        return 0.0

    def succeeded(self) -> None:
        self._backoff.reset()
        self._not_before = 0.0

    def failed(self) -> None:
        self._not_before = self._clock() + self._backoff.next_delay()


_gates: dict[tuple[str, int], AddressGate] = {}


def gate_for(host: str, port: int) -> AddressGate:
    return _gates.setdefault((host, port), AddressGate())


def with_backoff(create_conn: ConnectionFactory) -> ConnectionFactory:
    """``create_conn`` that waits for its address's gate first and reports to it after."""

    async def create_conn_with_backoff(host: str, port: int, **options: Any) -> Any:
        gate = gate_for(host, port)
        while (wait := gate.claim()) > 0:
            await asyncio.sleep(wait)
        try:
            connection = await create_conn(host, port, **options)
        except BaseException:  # refused, timed out, or given up on (cancelled)
            gate.failed()
            raise
        gate.succeeded()
        return connection

    create_conn_with_backoff.wrapped = create_conn  # type: ignore[attr-defined]
    return create_conn_with_backoff


def install() -> None:
    """Put the backoff in front of aiokafka's connections (once per process)."""
    if not hasattr(aiokafka.client.create_conn, "wrapped"):
        aiokafka.client.create_conn = with_backoff(aiokafka.client.create_conn)

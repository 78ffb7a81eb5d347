"""Exponential backoff with jitter for every new connection our Kafka clients open.

aiokafka 0.14 has no ``reconnect.backoff.ms`` / ``reconnect.backoff.max.ms``: while a broker
is down, each of a process's clients (consumer, its coordinator and fetcher, the producers,
the probes) tries to connect again every ``retry_backoff_ms`` (100 ms), dozens of attempts a
second per process. Each attempt over loopback takes an ephemeral source port, and one that
happens to equal the broker's own port connects to itself and keeps the broker from binding
when it comes back (the stack's ports lie outside the ephemeral range too, see
``deploy/local/processes.py``); the attempts also flood the logs.

``install()`` wraps ``aiokafka.client.create_conn``, through which aiokafka makes every
connection (bootstrap and per node): per broker address, one process-wide ``AddressGate``
holds new attempts back after a failure for a doubling, jittered pause
(``shared.backoff.Backoff``), until one succeeds.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiokafka.client

from shared.backoff import Backoff

# Java's client defaults are 50 ms and 1 s. The ceiling bounds how long after a broker's
# return a client may take to try again.
FIRST_PAUSE = 0.1
LONGEST_PAUSE = 2.0

ConnectionFactory = Callable[..., Awaitable[Any]]


class AddressGate:
    """When connection attempts to one broker address may start again after a failure: not
    before a pause that doubles, with jitter, up to a ceiling; a success ends the pauses. A
    broker that answers costs no wait at all, and an attempt that hangs (a frozen broker)
    holds back no other."""

    def __init__(
        self,
        first: float = FIRST_PAUSE,
        ceiling: float = LONGEST_PAUSE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backoff = Backoff(first, ceiling)
        self._clock = clock
        self._not_before = 0.0

    def wait(self) -> float:
        """The seconds until an attempt may start (0: now)."""
        return max(0.0, self._not_before - self._clock())

    def failed(self) -> None:
        # Attempts that started together and fail together count as one failure.
        now = self._clock()
        if now >= self._not_before:
            self._not_before = now + self._backoff.next_delay()

    def succeeded(self) -> None:
        self._backoff.reset()
        self._not_before = 0.0


_gates: dict[tuple[str, int], AddressGate] = {}


def gate_for(host: str, port: int) -> AddressGate:
    return _gates.setdefault((host, port), AddressGate())


def with_backoff(create_conn: ConnectionFactory) -> ConnectionFactory:
    """``create_conn`` that waits for its address's gate and tells it how the attempt went."""

    async def create_conn_with_backoff(host: str, port: int, **options: Any) -> Any:
        gate = gate_for(host, port)
        while (pause := gate.wait()) > 0:
            await asyncio.sleep(pause)
        try:
            connection = await create_conn(host, port, **options)
        except Exception:  # refused, timed out, broken: the next attempts wait
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

"""Waking the dispatcher and the live streams when new rows commit, across processes.

Whoever commits deliveries or inbox entries calls ``notify`` inside its transaction;
PostgreSQL sends the notification only when (and if) the transaction commits. One listening
connection per process fans the wake-up out to every waiter. The waiters also poll slowly,
so a notification lost while the connection was down costs one poll interval, nothing more.
"""

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import asyncpg
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.backoff import Backoff

log = structlog.get_logger(__name__)

DELIVERIES = "accord_deliveries"
INBOX = "accord_inbox"
EMAILS = "accord_emails"


async def notify(session: AsyncSession, channel: str) -> None:
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


class Pulse:
    """A broadcast wake-up. Take ``ticket()`` before looking for work, then ``wait`` on it:
    a pulse fired in between is not missed."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def ticket(self) -> asyncio.Event:
        return self._event

    @staticmethod
    async def wait(ticket: asyncio.Event, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ticket.wait(), timeout)


class Listener:
    def __init__(self, dsn: str, connect_args: Mapping[str, Any] | None = None) -> None:
        self._dsn = dsn
        self._connect_args = dict(connect_args or {})  # TLS (ServiceSettings)
        self.pulses = {DELIVERIES: Pulse(), INBOX: Pulse(), EMAILS: Pulse()}

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after any failure, at least once a second:
        live streams wait for a wake-up up to their keepalive, so a listener away for long
        would make them late."""
        backoff = Backoff(0.5, 1.0)
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=10, **self._connect_args)
                for channel in self.pulses:
                    await connection.add_listener(channel, self._on_notify)
                backoff.reset()
                # Rows may have committed while nobody listened.
                for pulse in self.pulses.values():
                    pulse.fire()
                while not connection.is_closed():
                    await asyncio.sleep(1)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("listener_error", error=f"{type(exc).__name__}: {exc}")
                await backoff.sleep()
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(connection.close(), 5)

    def _on_notify(self, _connection: object, _pid: int, channel: str, _payload: str) -> None:
        self.pulses[channel].fire()

"""Waking the dispatcher and the live streams when new rows commit, across processes.

Whoever commits deliveries or emails calls ``notify`` inside its transaction; the channels a
transaction named are notified in one statement just before it commits, and PostgreSQL sends
the notifications only when (and if) it does. (Inbox entries are written by a statement that
notifies ``INBOX`` itself, inbox/entries.py: one round trip fewer per notice.) One listening
connection per process fans the wake-up out to every waiter. The waiters also poll slowly,
so a notification lost while the connection was down costs one poll interval, nothing more.
"""

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import asyncpg
import structlog
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared.backoff import Backoff

log = structlog.get_logger(__name__)

DELIVERIES = "accord_deliveries"
INBOX = "accord_inbox"
EMAILS = "accord_emails"


_PENDING = "accord_wake"  # the channels a session's transaction will notify, in its info


async def notify(session: AsyncSession, channel: str) -> None:
    """Wake ``channel``'s listeners once this transaction commits. Kept until the commit: a
    consumer batch taking in fifty events made a hundred statements of its wake-ups."""
    pending: set[str] = session.info.setdefault(_PENDING, set())
    if not pending:
        event.listen(session.sync_session, "before_commit", _send_pending, once=True)
        event.listen(session.sync_session, "after_rollback", _forget_pending, once=True)
    pending.add(channel)


def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _send_pending(session: Session) -> None:
    channels = sorted(session.info.pop(_PENDING, ()))
    if channels:
        calls = ", ".join(f"pg_notify(:channel_{n}, '')" for n in range(len(channels)))
        session.execute(
            text(f"SELECT {calls}"), {f"channel_{n}": name for n, name in enumerate(channels)}
        )


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

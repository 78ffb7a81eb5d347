"""A transaction driven by asyncpg directly, on one of an engine's pooled connections: the unit
of work of a hot command whose statements are all ``Prepared`` (a status change).

Why: SQLAlchemy's session around a transaction (the session and its transaction objects, the
connection checked out through them, BEGIN and COMMIT sent by its asyncpg adapter, each step
in a greenlet) cost more of a status change's CPU than its statements: in the API's profile
under load, 1.4 ms of the process's CPU per change through a session, 1.1 ms through this,
for the same statements and round trips (docs/performance.md).

What stays as with a session:
- the connection is the engine's: its pool of at most ``pool_size`` (decision 49), its test
  after idle, the outage log's "back" when a new one is made;
- the isolation level is the server's default, READ COMMITTED, as the engine's;
- errors are SQLAlchemy's (``shared.db.statement_error``: ``IntegrityError`` for a broken
  constraint, ``DBAPIError`` otherwise, a lost connection marked invalidated), so that the
  API's handlers answer them as any other (503 while the database is away).

What differs: no ORM and no session events (``wakeup.notify``, an idempotency claim): only
``Prepared`` statements run in it. And a transaction that does not end cleanly (cancelled,
its connection lost, its COMMIT or ROLLBACK failed) closes its connection rather than giving
it back: its state on the server is unknown (as ``shared.prepared._discard`` says).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from shared.db import DRIVER_ERRORS, statement_error


@dataclass(frozen=True)
class Transaction:
    """An open transaction: ``Prepared`` statements run in it (``shared.prepared``)."""

    driver: asyncpg.Connection
    dialect: Dialect  # the engine's, to compile statements for
    database: str  # for the statements' spans


@contextlib.asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[Transaction]:
    """Commits when the block ends, rolls back when it raises."""
    pooled = await _checkout(engine)
    ended = False
    try:
        driver = pooled.driver_connection
        assert isinstance(driver, asyncpg.Connection), "transactions run on asyncpg connections"
        started = driver.transaction()
        await _sent(started.start(), "BEGIN")
        try:
            yield Transaction(driver, engine.dialect, engine.url.database or "")
        except BaseException:
            if not driver.is_closed():
                with contextlib.suppress(Exception):
                    await started.rollback()
                    ended = True
            raise
        await _sent(started.commit(), "COMMIT")
        ended = True
    finally:
        await asyncio.shield(_give_back(pooled, reusable=ended))


async def _checkout(engine: AsyncEngine) -> PoolProxiedConnection:
    """A connection from the engine's pool. What its driver raises while connecting (or while
    testing an idle connection) arrives here bare: SQLAlchemy wraps it only for a connection
    of its own. Wrapped the same way, so that the API answers 503 for it as for the rest."""
    try:
        return await engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            None, None, exc, engine.dialect.loaded_dbapi.Error, connection_invalidated=True
        ) from exc


async def _sent(step: Awaitable[Any], statement: str) -> None:
    try:
        await step
    except DRIVER_ERRORS as exc:
        raise statement_error(exc, statement) from exc


async def _give_back(pooled: PoolProxiedConnection, *, reusable: bool) -> None:
    """Back to the pool; closed first unless the transaction ended cleanly (see above).
    Shielded by the caller: a second cancellation must not leave it half done."""
    with contextlib.suppress(Exception):
        if not reusable:
            await greenlet_spawn(pooled.invalidate)
        await greenlet_spawn(pooled.close)

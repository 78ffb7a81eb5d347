"""Databases of a test module's own on the suite's PostgreSQL, migrated like the real ones:
for tests whose transactions must commit (racing jobs, lock modes) or that must not see the
running services' rows."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
import asyncpg.transaction
import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from shared.db import asyncpg_dsn, make_engine
from shared.migrations import upgrade
from tests.support.stack import REPO, Infrastructure


def migrated_database(infra: Infrastructure, service: str, name: str) -> str:
    """A fresh database ``name`` (dropped first if left over) with ``service``'s migrations
    applied; returns its URL."""
    infra.postgres.drop_database(name)
    infra.postgres.create_database(name)
    url = infra.postgres.url(name)
    upgrade(REPO / "services" / service / "migrations", url)
    return url


@asynccontextmanager
async def committing_sessions(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a test's own database whose transactions really commit, each on a
    connection of its own (no pool: tests that interleave transactions need separate ones)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


async def empty_database(infra: Infrastructure, prefix: str) -> str:
    """A fresh database with no schema, named after ``prefix``; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(infra.postgres.create_database, name)
    return infra.postgres.url(name)


@asynccontextmanager
async def engine_with_tables(
    infra: Infrastructure, prefix: str, metadata: MetaData
) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database (``empty_database``) holding ``metadata``'s tables,
    disposed of on the way out."""
    engine = make_engine(await empty_database(infra, prefix), pool_size=4)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


async def transactions_left_open(engine: AsyncEngine) -> int:
    """How many connections to ``engine``'s database sit idle inside a transaction, seen from
    a connection of the test's own."""
    observer = await asyncpg.connect(asyncpg_dsn(engine.url.render_as_string(hide_password=False)))
    try:
        count: int = await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
        )
    finally:
        await observer.close()
    return count


async def cancel_once_begun(
    write: Callable[[], Awaitable[None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run ``write`` and cancel it just after the server has answered its BEGIN (a stopped
    request or job, a timeout), before anything else is sent; return once it is cancelled."""
    begun = asyncio.Event()
    start = asyncpg.transaction.Transaction.start

    async def begin_then_wait(self: asyncpg.transaction.Transaction) -> None:
        await start(self)
        begun.set()
        await asyncio.sleep(60)  # cancelled here

    monkeypatch.setattr(asyncpg.transaction.Transaction, "start", begin_then_wait)
    try:
        task = asyncio.create_task(write())
        await begun.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        monkeypatch.undo()

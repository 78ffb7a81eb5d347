"""The middle tier: command functions against a real PostgreSQL, no service processes.

Each service gets a database of its own for these tests (migrated like the real one, and
never written by the running services), and each test a session on it inside a transaction
that is rolled back at the end: tests leave nothing behind, run in any order, and what a test
reads from the outbox is exactly what its commands staged. The commands' own commits become
savepoints of that transaction.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from services.meetings import consumers as meetings_consumers
from shared.contracts.notifications import SOURCE, DelegationRegistered
from shared.events import CloudEvent, envelope
from shared.migrations import upgrade
from tests.support.meetings import PARTICIPANTS
from tests.support.stack import REPO, SERVICE_NAMES, Infrastructure


@asynccontextmanager
async def rolled_back(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            outer = await connection.begin()
            session = AsyncSession(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
            try:
                yield session
            finally:
                await session.close()
                await outer.rollback()
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def command_databases(infra: Infrastructure) -> dict[str, str]:
    """Service name -> URL of its migrated database for command tests."""
    urls = {}
    for service in SERVICE_NAMES:
        name = f"accord_{service}_commands"
        infra.postgres.drop_database(name)
        infra.postgres.create_database(name)
        urls[service] = infra.postgres.url(name)
        upgrade(REPO / "services" / service / "migrations", urls[service])
    return urls


@pytest.fixture
async def plans_db(command_databases: dict[str, str]) -> AsyncIterator[AsyncSession]:
    async with rolled_back(command_databases["plans"]) as session:
        yield session


@pytest.fixture
async def meetings_db(command_databases: dict[str, str]) -> AsyncIterator[AsyncSession]:
    """Meetings' database, knowing the suite's usual participants as registered delegations
    (as if notifications' delegation.registered events had been taken in)."""
    async with rolled_back(command_databases["meetings"]) as session:
        for code, name in PARTICIPANTS.items():
            announced = DelegationRegistered(delegation=code, name=name, timezone="UTC")
            event = envelope(announced, source=SOURCE, subject=f"delegations/{code}")
            await meetings_consumers.on_delegation_registered(session, event, announced)
        yield session


@pytest.fixture
async def notifications_db(command_databases: dict[str, str]) -> AsyncIterator[AsyncSession]:
    async with rolled_back(command_databases["notifications"]) as session:
        yield session


async def staged(session: AsyncSession, outbox: Table) -> list[CloudEvent]:
    """The events staged in this transaction, oldest first."""
    rows = await session.execute(select(outbox.c.payload).order_by(outbox.c.id))
    return [CloudEvent.from_bytes(payload) for (payload,) in rows]

"""Row locks of notifications against the foreign keys' share locks, on a real PostgreSQL.

Inserting a row that references another (a delivery its endpoint, a digest item or an inbox
entry its delegation) takes FOR KEY SHARE on the referenced row until the transaction ends.
The consumer's fan-out does that for many endpoints and delegations in one transaction, in no
particular order. A transaction that locked those rows FOR UPDATE (the dispatcher recording
endpoint health, anyone numbering inbox entries) then waited for the fan-out while the
fan-out waited for it: PostgreSQL broke the deadlock by failing one of them (SQLSTATE 40P01),
and the consumer's event was counted as failing. Rows whose key is not changed are locked FOR
NO KEY UPDATE, which the foreign key's share lock does not wait for.

Each test plays the two transactions step by step on two connections, in the order that
deadlocked: the fan-out takes its first share lock, the other transaction runs until it is
done or waits for a lock, and the fan-out takes its second share lock.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications import orm
from services.notifications.config import NotificationsSettings
from services.notifications.inbox.entries import Notice, add_entries
from services.notifications.webhooks.domain import AttemptResult
from services.notifications.webhooks.endpoint_health import record_endpoint_health
from tests.support.databases import committing_sessions, migrated_database
from tests.support.stack import Infrastructure
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database(infra: Infrastructure) -> str:
    """A notifications database of these tests' own: they commit rows of their own."""
    return migrated_database(infra, "notifications", "accord_notifications_locks")


@pytest.fixture
async def sessions(database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with committing_sessions(database) as sessions:
        yield sessions


async def _two_delegations_with_an_endpoint_each(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[list[str], list[uuid.UUID], int]:
    """Delegation codes and endpoint ids, each in ascending order, and an event's row id."""
    codes = sorted(f"L{uuid.uuid4().hex[:8].upper()}" for _ in range(2))
    endpoints = sorted(uuid.uuid4() for _ in range(2))
    async with sessions() as session, session.begin():
        session.add_all(orm.Delegation(code=c, name=c, timezone="UTC") for c in codes)
        await session.flush()
        session.add_all(
            orm.Endpoint(
                id=e,
                delegation_code=c,
                url="https://example.org/hook",
                secret_key_id="unused",
                secret_ciphertext=b"never decrypted here",
                event_types=[],
            )
            for c, e in zip(codes, endpoints, strict=True)
        )
        event = orm.ReceivedEvent(
            event_id=str(uuid.uuid4()), event_type="test", data={}, occurred_at=datetime.now(UTC)
        )
        session.add(event)
        await session.flush()
        return codes, endpoints, event.id


def _delivery(event_row_id: int, endpoint: uuid.UUID, code: str) -> dict[str, object]:
    return {
        "webhook_id": f"msg_{uuid.uuid4().hex}",
        "event_row_id": event_row_id,
        "endpoint_id": endpoint,
        "delegation_code": code,
        "status": "pending",
        "tries": 0,
        "attempts_total": 0,
    }


async def _interleave(
    sessions: async_sessionmaker[AsyncSession],
    fan_out_first: Callable[[AsyncSession], Awaitable[object]],
    other: Callable[[AsyncSession], Awaitable[object]],
    fan_out_then: Callable[[AsyncSession], Awaitable[object]],
) -> None:
    """The fan-out's first step; ``other`` in its own transaction until it is done (then it
    commits) or waits for a lock; the fan-out's next step; both commit. Raises what either
    transaction raised (a deadlock: DBAPIError with SQLSTATE 40P01)."""
    async with sessions() as fan_out, sessions() as locker, asyncio.timeout(30):
        await fan_out.begin()
        await fan_out_first(fan_out)
        await locker.begin()
        locker_pid = await locker.scalar(text("SELECT pg_backend_pid()"))

        async def run_other() -> None:
            await other(locker)
            await locker.commit()

        running = asyncio.create_task(run_other())

        async def done_or_waiting() -> bool:
            if running.done():
                return True
            wait = await fan_out.scalar(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": locker_pid},
            )
            return wait == "Lock"

        await eventually(done_or_waiting, timeout=10, interval=0.05, what="the other transaction")
        try:
            await fan_out_then(fan_out)
            await fan_out.commit()
        finally:
            await running


async def test_recording_endpoint_health_does_not_deadlock_with_the_fan_out(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The recorder updates both endpoints' failing streaks (in id order) while the fan-out
    inserts a delivery to the second endpoint, then one to the first."""
    codes, endpoints, event = await _two_delegations_with_an_endpoint_each(sessions)
    failed = AttemptResult(status_code=500)

    async def delivery_to(session: AsyncSession, index: int) -> None:
        await session.execute(
            insert(orm.Delivery).values(_delivery(event, endpoints[index], codes[index]))
        )

    await _interleave(
        sessions,
        lambda s: delivery_to(s, 1),
        lambda s: record_endpoint_health(
            s, NotificationsSettings(), [(e, failed) for e in endpoints], datetime.now(UTC)
        ),
        lambda s: delivery_to(s, 0),
    )

    async with sessions() as session:
        streaks = await session.scalars(
            text("SELECT failing_since FROM endpoints WHERE id = ANY(:ids)"),
            {"ids": endpoints},
        )
        assert all(s is not None for s in streaks)
        assert await session.scalar(
            text("SELECT count(*) FROM deliveries WHERE event_row_id = :e"), {"e": event}
        ) == len(endpoints)


async def test_numbering_inbox_entries_does_not_deadlock_with_the_fan_out(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Another transaction (the dispatcher warning about endpoints, the digests) gives both
    delegations an inbox entry while the fan-out holds an event for the second one's digest,
    then gives the first one an inbox entry."""
    codes, _, event = await _two_delegations_with_an_endpoint_each(sessions)
    notice = Notice(event_type="test", title="t", body="b")

    async def digest_item_for_the_second(session: AsyncSession) -> None:
        await session.execute(
            insert(orm.DigestItem).values(
                delegation_code=codes[1], event_row_id=event, cadence="daily", channels=["inbox"]
            )
        )

    await _interleave(
        sessions,
        digest_item_for_the_second,
        lambda s: add_entries(s, notice, {code: ["inbox"] for code in codes}),
        lambda s: add_entries(s, notice, {codes[0]: ["inbox"]}),
    )

    async with sessions() as session:
        seqs = await session.execute(
            text("SELECT code, stream_seq FROM delegations WHERE code = ANY(:c) ORDER BY code"),
            {"c": codes},
        )
        assert [tuple(r) for r in seqs] == [(codes[0], 2), (codes[1], 1)]

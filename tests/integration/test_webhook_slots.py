"""The dispatcher against receivers that misbehave (tests/support/misbehaving_receivers.py):
one that trickles its answer must not hold a slot past the attempt's deadline, nor be sent the
same webhook-id twice at once, nor starve the other endpoints; a huge answer is read only as
far as its prefix.

The dispatcher runs in the test's process on a notifications database of the test's own
(migrated like the real one), with its settings made small: the session's notifications
service never sees these deliveries.
"""

import asyncio
import secrets
import string
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications import orm, wakeup
from services.notifications.config import NotificationsSettings
from services.notifications.webhooks.dispatcher import Dispatcher
from services.notifications.webhooks.secrets_at_rest import store_secret
from services.notifications.webhooks.signing import new_secret
from shared.db import make_engine, make_session_factory
from shared.migrations import upgrade
from tests.support.background import in_background
from tests.support.misbehaving_receivers import (
    CHUNK,
    HUGE_LENGTH,
    Behaviour,
    MisbehavingReceiver,
    huge_body_chunk,
)
from tests.support.stack import REPO, Infrastructure
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

DEADLINE = 2.0
SETTINGS = NotificationsSettings(
    delivery_timeout=DEADLINE,
    retry_schedule=[0, 0.5, 0.5],
    poll_interval=0.2,
    allow_http_webhooks=True,
    dispatcher_concurrency=6,
    max_in_flight_per_endpoint=2,
    max_in_flight_per_delegation=4,
)


@pytest.fixture
async def sessions(infra: Infrastructure) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A fresh, migrated notifications database for this test alone."""
    name = f"dispatch_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(infra.postgres.create_database, name)
    url = infra.postgres.url(name)
    await asyncio.to_thread(upgrade, REPO / "services" / "notifications" / "migrations", url)
    engine = make_engine(url, pool_size=8)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


@dataclass
class Endpoint:
    id: uuid.UUID
    delegation: str


async def new_delegation(sessions: async_sessionmaker[AsyncSession], *urls: str) -> list[Endpoint]:
    """A delegation of its own with one endpoint at each of ``urls``."""
    code = "T" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(7))
    endpoints = [Endpoint(uuid.uuid4(), code) for _ in urls]
    async with sessions() as session, session.begin():
        session.add(orm.Delegation(code=code, name="Test mission", timezone="UTC"))
        await session.flush()
        for e, url in zip(endpoints, urls, strict=True):
            endpoint = orm.Endpoint(id=e.id, delegation_code=code, url=url, event_types=[])
            store_secret(endpoint, SETTINGS.keyring, new_secret())
            session.add(endpoint)
    return endpoints


async def pending_deliveries(
    sessions: async_sessionmaker[AsyncSession], endpoint: Endpoint, count: int
) -> list[str]:
    """``count`` deliveries due now, each of its own subject (so none waits for another)."""
    webhook_ids = []
    async with sessions() as session, session.begin():
        for _ in range(count):
            subject = f"action-lines/{uuid.uuid4()}"
            event = await received_event(session, subject)
            webhook_ids.append(f"msg_{uuid.uuid4().hex}")
            session.add(
                orm.Delivery(
                    webhook_id=webhook_ids[-1],
                    event_row_id=event.id,
                    endpoint_id=endpoint.id,
                    delegation_code=endpoint.delegation,
                    subject=subject,
                    status="pending",
                    tries=0,
                    attempts_total=0,
                    next_attempt_at=datetime.now(UTC),
                )
            )
    return webhook_ids


async def received_event(session: AsyncSession, subject: str) -> orm.ReceivedEvent:
    """An event taken in about ``subject``, written in the caller's transaction."""
    event = orm.ReceivedEvent(
        event_id=str(uuid.uuid4()),
        event_type="org.accord.plans.action_line.status_changed",
        subject=subject,
        data={"note": "test"},
        occurred_at=datetime.now(UTC),
    )
    session.add(event)
    await session.flush()
    return event


def dispatching(
    sessions: async_sessionmaker[AsyncSession], settings: NotificationsSettings = SETTINGS
) -> AbstractAsyncContextManager[None]:
    dispatcher = Dispatcher(sessions, settings, allow_loopback=True, pulse=wakeup.Pulse())
    return in_background(dispatcher.run())


async def attempts_of(
    sessions: async_sessionmaker[AsyncSession], *endpoints: Endpoint
) -> list[orm.DeliveryAttempt]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(orm.DeliveryAttempt)
                .join(orm.Delivery, orm.Delivery.id == orm.DeliveryAttempt.delivery_id)
                .where(orm.Delivery.endpoint_id.in_([e.id for e in endpoints]))
                .order_by(orm.DeliveryAttempt.id)
            )
        )


async def succeeded(sessions: async_sessionmaker[AsyncSession], *endpoints: Endpoint) -> int:
    async with sessions() as session:
        rows = await session.scalars(
            select(orm.Delivery.id).where(
                orm.Delivery.endpoint_id.in_([e.id for e in endpoints]),
                orm.Delivery.status == "succeeded",
            )
        )
        return len(rows.all())


async def test_a_trickling_receiver_holds_its_slots_only_until_the_deadline_and_starves_no_one(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A delegation with three trickling endpoints, and more of their deliveries than the
    dispatcher has slots, made before a healthy endpoint's: before the fix they took every
    slot for good (the timeout applied to each read, and a byte came every second), the
    healthy endpoint got nothing, and when a lease ran out the same webhook-id was sent again
    while its first attempt was still open. Now each trickling attempt ends at its deadline,
    one endpoint holds at most 2 slots and the delegation at most 4 of the 6."""
    async with (
        MisbehavingReceiver(Behaviour.TRICKLE).running() as slow,
        MisbehavingReceiver(Behaviour.HEALTHY).running() as healthy,
    ):
        trickling = await new_delegation(sessions, *(slow.url(f"/hook/{n}") for n in range(3)))
        [fine] = await new_delegation(sessions, healthy.url())
        for endpoint in trickling:
            await pending_deliveries(sessions, endpoint, SETTINGS.dispatcher_concurrency)
        await pending_deliveries(sessions, fine, 10)
        async with dispatching(sessions):

            async def all_healthy_delivered() -> bool:
                return await succeeded(sessions, fine) == 10

            await eventually(all_healthy_delivered, timeout=30, what="the healthy deliveries")

            async def cut_at_the_deadline() -> list[orm.DeliveryAttempt]:
                return [
                    a
                    for a in await attempts_of(sessions, *trickling)
                    if a.error and "no complete answer" in a.error
                ]

            ended = await eventually(cut_at_the_deadline, what="trickling attempts ended")
            assert all(a.status_code is None for a in ended)  # failed, not a success
            await eventually(
                lambda: asyncio.sleep(0, slow.cut_short >= len(ended)),
                what="the trickling receiver seeing its connections closed",
            )
        assert slow.most_open_per_path <= SETTINGS.max_in_flight_per_endpoint
        assert slow.most_open <= SETTINGS.max_in_flight_per_delegation
        assert slow.most_open_per_id == 1
        assert await succeeded(sessions, *trickling) == 0


async def test_a_huge_answer_is_read_only_as_far_as_its_prefix(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Before the fix the whole 50 MB body was read into memory and the receiver wrote all of
    it; now the dispatcher keeps the first 4 KiB, closes, and the receiver's writes fail."""
    async with MisbehavingReceiver(Behaviour.HUGE).running() as receiver:
        [endpoint] = await new_delegation(sessions, receiver.url())
        await pending_deliveries(sessions, endpoint, 1)
        async with dispatching(sessions):
            [attempt] = await eventually(lambda: attempts_of(sessions, endpoint), what="an attempt")
            await eventually(
                lambda: asyncio.sleep(0, receiver.cut_short == 1),
                what="the receiver seeing the connection closed",
            )
    assert attempt.status_code == 200 and attempt.error is None
    assert attempt.response_body is not None
    assert attempt.response_body.encode() == huge_body_chunk(0)[: SETTINGS.response_prefix_bytes]
    assert receiver.bytes_written < HUGE_LENGTH - CHUNK


@pytest.mark.parametrize(
    "settings",
    [
        SETTINGS,
        # Nothing polls within the test: what sends the next deliveries is the end of an
        # attempt that held its endpoint's last slot, not a poll nor the recorder's wake-up.
        SETTINGS.model_copy(update={"poll_interval": 60.0}),
    ],
    ids=["polling", "woken-by-the-attempts-end"],
)
async def test_a_slot_is_free_again_when_its_attempt_ends_not_when_it_is_recorded(
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    settings: NotificationsSettings,
) -> None:
    """The caps count attempts in flight. An attempt that has ended but waits for the
    recorder holds no slot of its receiver: before the fix it did (its lease in the database
    was counted until the record's commit), and a busy endpoint's slots stood empty for a
    record and a claim each round; the benchmark's dispatcher sent at 0.78 of a plain httpx
    loop with a third of its CPU unused. Here the recorder is held: with the fix every
    delivery is sent meanwhile, two at a time at most; before it, two in all. Nor does the
    next claim wait for a poll: the attempt that frees its endpoint's last slot wakes it (the
    second case, where no poll comes within the test and no recorder's wake-up reaches the
    dispatcher's pulse)."""
    recording = asyncio.Event()
    record = Dispatcher._record

    async def held(self: Dispatcher, session: AsyncSession, batch: list) -> list[str]:
        await recording.wait()
        return await record(self, session, batch)

    monkeypatch.setattr(Dispatcher, "_record", held)
    async with MisbehavingReceiver(Behaviour.HEALTHY).running() as receiver:
        [endpoint] = await new_delegation(sessions, receiver.url())
        webhook_ids = await pending_deliveries(sessions, endpoint, 6)
        async with dispatching(sessions, settings):
            await eventually(
                lambda: asyncio.sleep(0, len(receiver.requests) == len(webhook_ids)),
                timeout=10,
                what="every delivery sent while no attempt is recorded",
            )
            assert await attempts_of(sessions, endpoint) == []
            recording.set()

            async def all_delivered() -> bool:
                return await succeeded(sessions, endpoint) == len(webhook_ids)

            await eventually(all_delivered, what="every attempt recorded")
    assert sorted(receiver.requests) == sorted(webhook_ids)
    assert receiver.most_open_per_path <= SETTINGS.max_in_flight_per_endpoint

"""handoff.py: a take-in claims the deliveries it makes for the dispatcher of its process, in
its own transaction, and that dispatcher sends them once it commits, with no wake-up and no
claim of its own; a rollback undoes the claim; a delivery the claim cannot take (held back
behind an earlier one of its subject) wakes a claim as before.

The dispatcher runs in the test's process with a poll interval of an hour and a pulse nothing
fires, on a notifications database of the test's own: what it sends, it was handed.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications import orm, wakeup
from services.notifications.intake.handlers import add_deliveries
from services.notifications.webhooks import handoff
from services.notifications.webhooks.dispatcher import Dispatcher
from tests.integration.test_webhook_slots import (
    SETTINGS,
    Endpoint,
    new_delegation,
    pending_deliveries,
    received_event,
    sessions,
    succeeded,
)
from tests.support.background import in_background
from tests.support.misbehaving_receivers import Behaviour, MisbehavingReceiver
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

__all__ = ["sessions"]  # the fixture

QUIET = SETTINGS.model_copy(update={"poll_interval": 3600.0})


@dataclass
class Here:
    dispatcher: Dispatcher
    endpoint: Endpoint
    receiver: MisbehavingReceiver


@contextlib.asynccontextmanager
async def _dispatcher_here(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Here]:
    """A dispatcher running in this process, and an endpoint of a delegation of its own."""
    async with MisbehavingReceiver(Behaviour.HEALTHY).running() as receiver:
        [endpoint] = await new_delegation(sessions, receiver.url())
        dispatcher = Dispatcher(sessions, QUIET, allow_loopback=True, pulse=wakeup.Pulse())
        async with in_background(dispatcher.run()):
            await eventually(
                lambda: asyncio.sleep(0, dispatcher in handoff._here), what="dispatcher up"
            )
            yield Here(dispatcher, endpoint, receiver)


async def _take_in(session: AsyncSession, here: Here, subject: str) -> orm.Delivery:
    """What the intake does for an event told to the endpoint's delegation; the delivery."""
    row = await received_event(session, subject)
    await add_deliveries(session, row, [here.endpoint.delegation])
    found = await session.scalars(select(orm.Delivery).where(orm.Delivery.event_row_id == row.id))
    [delivery] = found.all()
    return delivery


async def _no_slot_promised(dispatcher: Dispatcher) -> None:
    """Once the dispatcher's own claim, if one runs (it promises its free slots meanwhile),
    is through: no slot is left promised to a take-in."""
    await eventually(
        lambda: asyncio.sleep(0, dispatcher._reserved == 0), timeout=5, what="no slot promised"
    )


def _wakes(session: AsyncSession) -> set[str]:
    return set(session.info.get(wakeup._PENDING, ()))


async def test_a_take_in_claims_its_delivery_and_the_dispatcher_here_sends_it_at_commit(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with _dispatcher_here(sessions) as here:
        async with sessions() as session, session.begin():
            delivery = await _take_in(session, here, f"action-lines/{uuid.uuid4()}")
            # Claimed in the take-in's transaction, before its commit: leased to the
            # dispatcher here, and nobody is woken.
            assert delivery.leased_by == here.dispatcher._owner
            assert delivery.tries == 1
            assert _wakes(session) == set()
            assert await succeeded(sessions, here.endpoint) == 0  # nothing before the commit

        async def delivered() -> bool:
            return await succeeded(sessions, here.endpoint) == 1

        # Well within the hour of the poll interval: it was handed over at the commit.
        await eventually(delivered, what="the delivery sent after the take-in's commit")
        await _no_slot_promised(here.dispatcher)


async def test_a_rolled_back_take_in_sends_nothing_and_gives_its_slots_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with _dispatcher_here(sessions) as here:
        async with sessions() as session, session.begin():
            await _take_in(session, here, f"action-lines/{uuid.uuid4()}")
            assert here.dispatcher._reserved == 1
            await session.rollback()
        await _no_slot_promised(here.dispatcher)
        assert not here.dispatcher._in_flight
        assert here.receiver.most_open == 0


async def test_a_delivery_held_back_behind_its_subject_wakes_a_claim_instead(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """An earlier delivery of the same endpoint and subject is still pending (this one waits
    for it, whoever sends it): the take-in's claim leaves it, and asks for a wake-up."""
    async with _dispatcher_here(sessions) as here:
        subject = await _pending_later(sessions, here.endpoint)
        async with sessions() as session, session.begin():
            delivery = await _take_in(session, here, subject)
            assert delivery.leased_by is None
            assert _wakes(session) == {wakeup.DELIVERIES}
        await _no_slot_promised(here.dispatcher)


async def _pending_later(sessions: async_sessionmaker[AsyncSession], endpoint: Endpoint) -> str:
    """A pending delivery to ``endpoint`` due in an hour; its subject."""
    [webhook_id] = await pending_deliveries(sessions, endpoint, 1)
    async with sessions() as session, session.begin():
        delivery = await session.scalar(
            select(orm.Delivery).where(orm.Delivery.webhook_id == webhook_id)
        )
        assert delivery is not None and delivery.subject is not None
        delivery.next_attempt_at = datetime.now(UTC) + timedelta(hours=1)
        return delivery.subject

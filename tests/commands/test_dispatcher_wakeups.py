"""Recording webhook attempts wakes the dispatchers (``DELIVERIES``) only when a claim may now
take a due delivery it could not take before: a finished delivery held back a later one of
its endpoint and subject, or an endpoint or delegation had every slot taken. Waking them for
every finished delivery made each webhook cost a claim that found nothing when changes come
one by one."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm, wakeup
from services.notifications.wakeup import Pulse
from services.notifications.webhooks.dispatcher import Dispatcher, Outcome
from tests.commands.test_late_attempt_records import ME, OTHER, _outcome
from tests.commands.test_notifications_commands import SETTINGS, waiting_deliveries

SUBJECT = "action-lines/one-line"


def _dispatcher(per_endpoint: int = SETTINGS.max_in_flight_per_endpoint) -> Dispatcher:
    settings = SETTINGS.model_copy(update={"max_in_flight_per_endpoint": per_endpoint})
    return Dispatcher(
        None,  # type: ignore[arg-type]  # _record is given its session
        settings,
        allow_loopback=False,
        pulse=Pulse(),
        instance_id=ME,
    )


async def _woken_by_record(
    session: AsyncSession, dispatcher: Dispatcher, outcomes: list[Outcome]
) -> list[str]:
    """The channels recording ``outcomes`` asks to notify once it commits (the set-up's own
    intake asked for DELIVERIES in the same transaction, so the session's cannot tell)."""
    channels: list[str] = []

    async def notify(_session: AsyncSession, channel: str) -> None:
        channels.append(channel)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wakeup, "notify", notify)
        await dispatcher._record(session, outcomes)
    return channels


async def _leased(session: AsyncSession, *deliveries: orm.Delivery, to: str = ME) -> None:
    for delivery in deliveries:
        delivery.leased_by = to  # in flight: leased, its lease running (next_attempt_at ahead)
    await session.flush()


async def test_a_finished_delivery_with_nothing_behind_it_wakes_nobody(
    notifications_db: AsyncSession,
) -> None:
    _, _, (sent,) = await waiting_deliveries(notifications_db, 1)
    await _leased(notifications_db, sent)

    woken = await _woken_by_record(notifications_db, _dispatcher(), [_outcome(sent, 200)])

    assert woken == []


async def test_a_finished_delivery_that_held_back_the_next_of_its_subject_wakes_the_claim(
    notifications_db: AsyncSession,
) -> None:
    _, _, (sent, behind) = await waiting_deliveries(notifications_db, 2)
    sent.subject = behind.subject = SUBJECT
    await _leased(notifications_db, sent)

    woken = await _woken_by_record(notifications_db, _dispatcher(), [_outcome(sent, 200)])

    assert woken == [wakeup.DELIVERIES]


async def test_a_retry_that_frees_a_slot_of_an_endpoint_at_its_cap_wakes_the_claim(
    notifications_db: AsyncSession,
) -> None:
    """Another dispatcher's claim may have left a due delivery for want of that slot."""
    _, _, (retried, elsewhere, waiting) = await waiting_deliveries(notifications_db, 3)
    await _leased(notifications_db, retried)
    await _leased(notifications_db, elsewhere, to=OTHER)
    waiting.next_attempt_at = retried.created_at  # due
    await notifications_db.flush()

    woken = await _woken_by_record(
        notifications_db, _dispatcher(per_endpoint=2), [_outcome(retried, 503)]
    )

    assert woken == [wakeup.DELIVERIES]


async def test_a_retry_below_the_caps_wakes_nobody(
    notifications_db: AsyncSession,
) -> None:
    """A due delivery of the endpoint waits, but a claim could have taken it already."""
    _, _, (retried, waiting) = await waiting_deliveries(notifications_db, 2)
    await _leased(notifications_db, retried)
    waiting.next_attempt_at = retried.created_at  # due
    await notifications_db.flush()

    woken = await _woken_by_record(
        notifications_db, _dispatcher(per_endpoint=2), [_outcome(retried, 503)]
    )

    assert woken == []

"""An attempt recorded after its lease ran out (the database away longer than the lease's
margin) must not undo what another dispatcher did with the delivery meanwhile: the webhook
and the email dispatcher record only deliveries still leased in their own name.

Found by reading the dispatchers: both recorded by the delivery's id alone, so a late record
of a failure could put a delivery another instance had sent and recorded back on the retry
schedule (sent once more) or mark it failed."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from services.notifications.domain import Cadence, Channel, TargetKind
from services.notifications.email.dispatcher import EmailDispatcher
from services.notifications.email.dispatcher import Job as EmailJob
from services.notifications.email.domain import SmtpResult
from services.notifications.email.sender import Outgoing
from services.notifications.wakeup import Pulse
from services.notifications.webhooks.dispatcher import Dispatcher, Job, Outcome
from services.notifications.webhooks.domain import AttemptResult, DeliveryStatus
from shared.db import make_engine, make_session_factory
from tests.commands.test_notifications_commands import SETTINGS, waiting_deliveries
from tests.commands.test_notifications_digests import (
    contact_of,
    delegation_in,
    emails_of,
    subscribe,
    take,
)
from tests.support.plan_events import line_created

ME, OTHER = "notifications-1", "notifications-2"


def _outcome(delivery: orm.Delivery, status_code: int) -> Outcome:
    job = Job(
        delivery_id=delivery.id,
        webhook_id=delivery.webhook_id,
        tries=delivery.tries,
        endpoint_id=delivery.endpoint_id,
        delegation_code=delivery.delegation_code,
        url="https://hooks.example.org/",
        secrets=(),
        body="{}",
    )
    return Outcome(
        job=job,
        attempted_at=datetime.now(UTC),
        latency_ms=5.0,
        result=AttemptResult(status_code=status_code),
        error=None if status_code < 300 else f"HTTP {status_code}",
    )


async def test_a_webhook_attempt_recorded_late_leaves_the_delivery_to_its_new_holder(
    notifications_db: AsyncSession,
) -> None:
    _, _, (late, own) = await waiting_deliveries(notifications_db, 2)
    # The late one's lease ran out and another instance claimed it again.
    late.leased_by, own.leased_by = OTHER, ME
    await notifications_db.flush()
    before = (late.status, late.next_attempt_at, late.tries, late.leased_by)
    dispatcher = Dispatcher(
        None,  # type: ignore[arg-type]  # _record is given its session
        SETTINGS,
        allow_loopback=False,
        pulse=Pulse(),
        instance_id=ME,
    )

    finished = await dispatcher._record(notifications_db, [_outcome(late, 503), _outcome(own, 200)])

    assert finished == [DeliveryStatus.SUCCEEDED.value]
    for delivery in (late, own):
        await notifications_db.refresh(delivery)
    assert (late.status, late.next_attempt_at, late.tries, late.leased_by) == before
    assert (own.status, own.leased_by) == (DeliveryStatus.SUCCEEDED.value, None)
    # Both attempts happened, so both are in the log.
    attempts = await notifications_db.scalars(
        orm.DeliveryAttempt.__table__.select()
        .with_only_columns(orm.DeliveryAttempt.delivery_id)
        .where(orm.DeliveryAttempt.delivery_id.in_([late.id, own.id]))
    )
    assert sorted(attempts.all()) == sorted([late.id, own.id])


async def test_an_email_attempt_recorded_late_leaves_the_delivery_to_its_new_holder(
    notifications_db: AsyncSession,
) -> None:
    code = await delegation_in(notifications_db, "UTC", 9)
    tag = f"tag-{uuid.uuid4()}"
    channels = (Channel.EMAIL,)
    await subscribe(notifications_db, code, TargetKind.TAG, tag, Cadence.IMMEDIATE, channels)
    await contact_of(notifications_db, code, "desk")
    await take(notifications_db, line_created(tags=[tag]))
    (email,) = await emails_of(notifications_db, code)
    email.leased_by, email.status = OTHER, DeliveryStatus.SUCCEEDED.value  # sent by the other
    await notifications_db.flush()
    dispatcher = EmailDispatcher(None, SETTINGS, pulse=Pulse(), instance_id=ME)  # type: ignore[arg-type]
    job = EmailJob(
        delivery_id=email.id,
        tries=email.tries,
        outgoing=Outgoing(
            message_key=email.message_key,
            to_address=email.to_address,
            subject=email.email_subject,
            text=email.text_body,
            html=email.html_body,
            language="en",
            created_at=datetime.now(UTC),
        ),
    )

    # A temporary failure, recorded late: it would have put the email back on the schedule.
    await dispatcher._record(notifications_db, job, SmtpResult(451, "try again later"))

    await notifications_db.refresh(email)
    assert (email.status, email.leased_by) == (DeliveryStatus.SUCCEEDED.value, OTHER)
    assert email.last_smtp_code is None


async def test_a_disabled_endpoints_due_deliveries_do_not_wake_the_dispatcher(
    command_databases: dict[str, str],
) -> None:
    # Found in a whole-suite run: the next-due query counted what the claim never takes (a
    # disabled endpoint's deliveries), so the dispatcher claimed again at once, for ever.
    engine = make_engine(command_databases["notifications"], pool_size=4)
    sessions = make_session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            _, endpoint, deliveries = await waiting_deliveries(session, 2)
            endpoint.enabled = False
            for delivery in deliveries:
                delivery.next_attempt_at = datetime(2000, 1, 1, tzinfo=UTC)
        dispatcher = Dispatcher(
            sessions, SETTINGS, allow_loopback=False, pulse=Pulse(), instance_id=ME
        )
        jobs, more_due, wait = await dispatcher._claim(4)
        assert (jobs, more_due, wait) == ([], False, SETTINGS.poll_interval)
    finally:
        async with sessions() as session, session.begin():
            await session.execute(delete(orm.DeliveryAttempt))
            await session.execute(
                delete(orm.Delivery).where(orm.Delivery.endpoint_id == endpoint.id)
            )
        await engine.dispose()

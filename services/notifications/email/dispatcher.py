"""The email dispatcher: a background job that sends due email deliveries over SMTP and
records each attempt, by the webhook dispatcher's rules (webhooks/dispatcher.py) at email's
scale (a few messages in flight, one small transaction per attempt).

Claiming: due rows are taken with ``FOR NO KEY UPDATE SKIP LOCKED`` and leased in the same
statement (``next_attempt_at`` pushed past the attempt's deadline, ``leased_by`` naming this
process), so several instances never send one delivery at once. Order: a contact gets one
subject's emails one at a time, in the order they were made. A process that dies after the
server accepted a message and before it recorded that leaves the lease to run out (or takes
it back at once when it restarts under the same ``ACCORD_INSTANCE_ID``): the message is sent
again with the same Message-ID, which is what makes it recognisable (decision 0029).
"""

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import structlog
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications import orm, wakeup
from services.notifications.config import NotificationsSettings
from services.notifications.domain import Channel
from services.notifications.email import sender
from services.notifications.email.domain import SmtpResult, after_send
from services.notifications.inbox.entries import Notice, add_entries
from services.notifications.webhooks.domain import DeliveryStatus
from shared import failpoints
from shared.backoff import Backoff

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Between the lease and the attempt's deadline: time to record the attempt.
LEASE_MARGIN = 30.0
UNDELIVERABLE = "org.accord.notifications.email.undeliverable"

_NOT_HELD_BACK = """
    NOT EXISTS (
        SELECT 1 FROM email_deliveries p
        WHERE p.contact_id = d.contact_id AND p.subject = d.subject
            AND p.status = 'pending' AND p.id < d.id
    )
"""

_CLAIM = text(
    f"""
    WITH due AS (
        SELECT d.id FROM email_deliveries d
        WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND {_NOT_HELD_BACK}
        ORDER BY d.next_attempt_at, d.id
        LIMIT :limit
        FOR NO KEY UPDATE OF d SKIP LOCKED
    )
    UPDATE email_deliveries SET next_attempt_at = now() + make_interval(secs => :lease),
        leased_by = :owner, tries = tries + 1
    FROM due WHERE email_deliveries.id = due.id
    RETURNING email_deliveries.id, email_deliveries.tries, email_deliveries.message_key,
        email_deliveries.to_address, email_deliveries.email_subject, email_deliveries.text_body,
        email_deliveries.html_body, email_deliveries.language, email_deliveries.created_at
    """
)

# What this process's previous incarnation had in flight when it died: due again now.
_TAKE_BACK = text(
    """
    UPDATE email_deliveries SET next_attempt_at = now(), leased_by = NULL
    WHERE status = 'pending' AND leased_by = :owner AND next_attempt_at > now()
    RETURNING id
    """
)

_NEXT_DUE = text(
    f"""
    SELECT extract(epoch FROM min(d.next_attempt_at) - now())
    FROM email_deliveries d WHERE d.status = 'pending' AND {_NOT_HELD_BACK}
    """
)


@dataclass(frozen=True)
class Job:
    delivery_id: int
    tries: int
    outgoing: sender.Outgoing


class EmailDispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: NotificationsSettings,
        *,
        pulse: wakeup.Pulse,
        instance_id: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._pulse = pulse
        self._instance_id = instance_id
        self._owner = instance_id or f"run-{uuid.uuid4()}"
        self._lease = settings.smtp_timeout + LEASE_MARGIN
        self._in_flight: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        if not self._settings.smtp_host:
            # Deliveries are still made, and wait: they go once a server is configured.
            log.warning("email_off", reason="NOTIFICATIONS_SMTP_HOST is not set")
            return
        try:
            await self._database(self._take_back)
            await self._dispatch_forever()
        finally:
            for task in self._in_flight:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _take_back(self) -> None:
        """Leases in this process's stable name are a dead previous run's: due now."""
        if self._instance_id is None:
            return
        async with self._sessions() as session, session.begin():
            taken = len((await session.execute(_TAKE_BACK, {"owner": self._owner})).all())
        if taken:
            log.info("email_took_back_leases", deliveries=taken)

    async def _database(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` until it succeeds: the database may be away for a while."""
        backoff = Backoff(self._settings.poll_interval, self._settings.poll_interval)
        while True:
            try:
                return await work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("email_database_error", error=f"{type(exc).__name__}: {exc}")
                await backoff.sleep()

    async def _dispatch_forever(self) -> None:
        while True:
            ticket = self._pulse.ticket()
            free = self._settings.email_concurrency - len(self._in_flight)
            if free <= 0:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            jobs = await self._database(functools.partial(self._claim, free))
            for job in jobs:
                task = asyncio.create_task(self._send(job))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            if len(jobs) == free:
                continue  # there may be more due right now
            await wakeup.Pulse.wait(ticket, await self._seconds_until_next_due())

    async def _claim(self, limit: int) -> list[Job]:
        params = {"limit": limit, "lease": self._lease, "owner": self._owner}
        async with self._sessions() as session, session.begin():
            claimed = (await session.execute(_CLAIM, params)).all()
        return [
            Job(
                delivery_id=c.id,
                tries=c.tries,
                outgoing=sender.Outgoing(
                    message_key=c.message_key,
                    to_address=c.to_address,
                    subject=c.email_subject,
                    text=c.text_body,
                    html=c.html_body,
                    language=c.language,
                    created_at=c.created_at,
                ),
            )
            for c in claimed
        ]

    async def _seconds_until_next_due(self) -> float:
        try:
            async with self._sessions() as session:
                wait = await session.scalar(_NEXT_DUE)
        except Exception:
            return self._settings.poll_interval
        if wait is None:
            return self._settings.poll_interval
        return max(0.0, min(float(wait), self._settings.poll_interval))

    async def _send(self, job: Job) -> None:
        try:
            message = sender.build(job.outgoing, self._settings)
        except (ValueError, TypeError) as exc:
            # A message that cannot be built never will be: a permanent failure, recorded and
            # told, rather than a delivery claimed again for ever (holding back the rest).
            result = SmtpResult(554, f"not sent: the message could not be built: {exc}", True)
        else:
            result = await sender.send(message, self._settings)
        if result.accepted:
            failpoints.reach(failpoints.EMAIL_AFTER_ACCEPTED)
        else:
            log.info("email_attempt_failed", delivery_id=job.delivery_id, error=result.error)

        async def record() -> None:
            async with self._sessions() as session, session.begin():
                await self._record(session, job, result)

        # Unrecorded, the delivery comes due again when its lease ends: keep trying meanwhile
        # so that a short database outage costs no resend.
        await self._database(record)

    async def _record(self, session: AsyncSession, job: Job, result: SmtpResult) -> None:
        now = datetime.now(UTC)
        decision = after_send(result, job.tries, self._settings.retry_schedule, now)
        changed = await session.execute(
            update(orm.EmailDelivery)
            .where(
                orm.EmailDelivery.id == job.delivery_id,
                # Still this attempt's lease: recorded late (the database away longer than the
                # lease's margin), another instance may have sent it again and recorded that,
                # and this record must not undo it (a late "retry" would send it once more).
                orm.EmailDelivery.leased_by == self._owner,
                orm.EmailDelivery.status == DeliveryStatus.PENDING.value,
            )
            .values(
                status=decision.status.value,
                next_attempt_at=decision.next_attempt_at,
                leased_by=None,
                last_smtp_code=result.code,
                last_error=result.error,
                sent_at=now if result.accepted else None,
            )
            .returning(orm.EmailDelivery.delegation_code, orm.EmailDelivery.email_subject)
        )
        row = changed.first()
        if row is None:
            log.warning("email_attempt_recorded_late", delivery_id=job.delivery_id)
            return
        if decision.status is not DeliveryStatus.PENDING:
            # Emails held back by this one may go now (see _NOT_HELD_BACK).
            await wakeup.notify(session, wakeup.EMAILS)
        if decision.status is DeliveryStatus.FAILED:
            await _warn(session, row.delegation_code, job, row.email_subject, result)


async def _warn(
    session: AsyncSession, delegation: str, job: Job, notice: str, result: SmtpResult
) -> None:
    """A message that will never arrive: its delegation hears of it in its inbox."""
    why = "refused it" if result.permanent else "could not be reached in time"
    notice_body = (
        f"The email {notice!r} to {job.outgoing.to_address} was not delivered: the mail "
        f"server {why} ({result.error}). Check the contact's address; the notice itself is "
        "in this inbox if the delegation follows it there."
    )
    await add_entries(
        session,
        Notice(
            event_type=UNDELIVERABLE,
            title=f"Email to {job.outgoing.to_address} not delivered"[:300],
            body=notice_body[:4000],
        ),
        {delegation: (Channel.INBOX.value, Channel.STREAM.value)},
    )

"""An endpoint's health after a batch of attempts: a success clears its failing streak; a 410
disables it at once; a long streak warns its delegation, then disables it. Both the warning
and the disabling reach the delegation's inbox and stream, its technical contacts by email
(email/queue.py), and are published as events. While
it cannot be reached, each such failure also sets when the dispatcher may probe it next
(``probe_at``)."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import events, orm
from services.notifications.config import NotificationsSettings
from services.notifications.domain import Channel
from services.notifications.email.queue import email_endpoint_alert
from services.notifications.inbox.entries import Notice, add_entries
from services.notifications.inbox.render import render
from services.notifications.intake.domain import is_critical
from services.notifications.webhooks import domain
from services.notifications.webhooks.domain import AttemptResult, EndpointAction
from shared.contracts import notifications as contracts
from shared.db import NO_KEY_UPDATE

ALERT_CHANNELS = (Channel.INBOX.value, Channel.STREAM.value)


async def record_endpoint_health(
    session: AsyncSession,
    settings: NotificationsSettings,
    results: Sequence[tuple[object, AttemptResult]],
    now: datetime,
) -> set[object]:
    """Returns the endpoints that answered again: a success after failing, or a success in
    the same batch as a failure to reach it (a receiver back from an outage, overwhelmed for a
    moment by what waited); what waits for them can go now."""
    succeeded = {e for e, r in results if r.succeeded}
    answered_again: set[object] = set()
    if succeeded:
        answered_again = set(
            (
                await session.execute(
                    update(orm.Endpoint)
                    .where(orm.Endpoint.id.in_(succeeded), orm.Endpoint.failing_since.is_not(None))
                    .values(failing_since=None, warned_at=None, probe_at=None)
                    .returning(orm.Endpoint.id)
                )
            ).scalars()
        )
    answered_again |= succeeded & {e for e, r in results if r.unreachable}
    gone = {e for e, r in results if r.gone}
    failed = {e for e, r in results if not r.succeeded} - succeeded
    if not failed:
        return answered_again
    endpoints = await session.scalars(
        select(orm.Endpoint)
        .where(orm.Endpoint.id.in_(failed), orm.Endpoint.enabled.is_(True))
        # Delegation by delegation: warning or disabling locks the delegation's row to number
        # its inbox entry (inbox/entries.py), and every transaction takes those in code order.
        .order_by(orm.Endpoint.delegation_code, orm.Endpoint.id)
        # The consumer's fan-out inserts deliveries to these endpoints meanwhile (shared/db.py).
        .with_for_update(**NO_KEY_UPDATE)
    )
    for endpoint in endpoints:
        since = endpoint.failing_since = endpoint.failing_since or now
        unreachable = [r for e, r in results if e == endpoint.id and r.unreachable]
        if unreachable:
            # The latest any of this batch's answers allows, and never sooner than an earlier
            # Retry-After asked.
            endpoint.probe_at = max(
                [endpoint.probe_at or now]
                + [_next_probe(settings, since, r, now) for r in unreachable]
            )
        else:
            # It answers, if with errors: its deliveries follow the schedule, unprobed.
            endpoint.probe_at = None
        action = domain.endpoint_health(
            gone=endpoint.id in gone,
            failing_since=endpoint.failing_since,
            warned_at=endpoint.warned_at,
            now=now,
            disable_after=timedelta(seconds=settings.disable_after),
            warn_before=timedelta(seconds=settings.warn_before_disable),
        )
        if action is EndpointAction.WARN:
            endpoint.warned_at = now
            disable_at = endpoint.failing_since + timedelta(seconds=settings.disable_after)
            warning = events.endpoint_disabling_soon(endpoint, max(disable_at, now))
            await _tell(session, warning, since)
        elif action is EndpointAction.DISABLE:
            await disable(session, endpoint, "gone" if endpoint.id in gone else "failing", now)
    return answered_again


def _next_probe(
    settings: NotificationsSettings, failing_since: datetime, result: AttemptResult, now: datetime
) -> datetime:
    return domain.next_probe(
        result,
        now,
        failing_since,
        settings.probe_interval,
        settings.probe_interval_max,
        settings.max_retry_after,
    )


async def disable(
    session: AsyncSession, endpoint: orm.Endpoint, reason: str, now: datetime
) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    endpoint.disabled_at = now
    await _tell(session, events.endpoint_disabled(endpoint), endpoint.failing_since or now)


async def _tell(
    session: AsyncSession,
    event: contracts.EndpointDisablingSoon | contracts.EndpointDisabled,
    failing_since: datetime,
) -> None:
    title, body = render(event, {})
    notice = Notice(
        event_type=event.event_type, title=title, body=body, critical=is_critical(event)
    )
    await add_entries(session, notice, {event.delegation: ALERT_CHANNELS})
    await email_endpoint_alert(session, event, title, failing_since=failing_since)
    await events.outbox.add(session, event, subject=events.subject(event.delegation))

"""The consumer's effect: take an event in, then tell every delegation whose subscriptions
match it, once each, in the same transaction as the consumer's dedupe row.

Fan-out is set-based (one query for the matching subscriptions, one insert per kind of row),
so its cost grows with the number of recipients, not with the number of subscriptions.
"""

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import domain, inbox, orm, readmodel, wakeup
from services.notifications.domain import Channel, DeliveryStatus, Recipient
from services.notifications.render import render
from shared.events import CloudEvent, EventContract


async def take_in(session: AsyncSession, event: CloudEvent, data: EventContract) -> None:
    row = orm.ReceivedEvent(
        event_id=event.id,
        event_type=event.type,
        plan_id=_plan_id(event.data),
        subject=event.subject,
        data=event.data,
        occurred_at=event.time,
    )
    session.add(row)
    await session.flush()
    # The read model's columns are typed (timestamps, uuids): give it the parsed contract,
    # not the JSON strings of the envelope.
    await readmodel.apply(session, event.type, data.model_dump())
    await fan_out(session, row)


async def fan_out(session: AsyncSession, row: orm.ReceivedEvent) -> None:
    targets = domain.targets(row.event_type, row.data)
    if not targets:
        return
    subscriptions = await session.scalars(
        select(orm.Subscription).where(
            tuple_(orm.Subscription.target_kind, orm.Subscription.target_key).in_(
                [(kind.value, key) for kind, key in targets]
            )
        )
    )
    rules = [
        domain.SubscriptionRule(
            delegation=s.delegation_code,
            event_types=s.event_types,
            statuses=s.statuses,
            channels=s.channels,
            cadence=s.cadence,
        )
        for s in subscriptions
    ]
    recipients = domain.recipients(rules, row.event_type, row.data)
    if not recipients:
        return
    names = await readmodel.names(session, row.data)
    title, body = render(row.event_type, row.data, names)
    notice = inbox.Notice(
        event_type=row.event_type,
        title=title,
        body=body,
        critical=domain.is_critical(row.event_type, row.data),
        event_row_id=row.id,
    )
    await inbox.add_entries(
        session, notice, {r.delegation: sorted(r.immediate_channels) for r in recipients.values()}
    )
    await _add_deliveries(session, row, recipients.values())
    await _hold_for_digests(session, row, recipients.values())


async def _add_deliveries(session: AsyncSession, row: orm.ReceivedEvent, recipients: Any) -> None:
    codes = [r.delegation for r in recipients if Channel.WEBHOOK in r.immediate_channels]
    if not codes:
        return
    endpoints = await session.execute(
        # Disabled endpoints get their rows too: they wait, and go out once it is re-enabled.
        select(orm.Endpoint.id, orm.Endpoint.delegation_code, orm.Endpoint.event_types).where(
            orm.Endpoint.delegation_code.in_(codes)
        )
    )
    values = [
        {
            "webhook_id": new_webhook_id(),
            "event_row_id": row.id,
            "endpoint_id": endpoint_id,
            "delegation_code": code,
            "subject": row.subject,
            "status": DeliveryStatus.PENDING.value,
            "tries": 0,
            "attempts_total": 0,
            "next_attempt_at": row.received_at,
        }
        for endpoint_id, code, event_types in endpoints.all()
        if domain.type_matches(event_types, row.event_type)
    ]
    if values:
        await session.execute(insert(orm.Delivery).values(values).on_conflict_do_nothing())
        await wakeup.notify(session, wakeup.DELIVERIES)


async def _hold_for_digests(
    session: AsyncSession, row: orm.ReceivedEvent, recipients: Iterable[Recipient]
) -> None:
    values = [
        {
            "delegation_code": r.delegation,
            "event_row_id": row.id,
            "cadence": cadence,
            "channels": sorted(r.channels - r.immediate_channels) or [Channel.INBOX.value],
        }
        for r in recipients
        for cadence in sorted(r.digests)
    ]
    if values:
        await session.execute(insert(orm.DigestItem).values(values).on_conflict_do_nothing())


def new_webhook_id() -> str:
    """Fixed when the delivery row is made; every attempt and redelivery reuses it."""
    return f"msg_{uuid.uuid4().hex}"


def _plan_id(data: dict[str, Any]) -> uuid.UUID | None:
    plan_id = data.get("plan_id") or (data.get("body") or {}).get("plan_id")
    return uuid.UUID(str(plan_id)) if plan_id else None

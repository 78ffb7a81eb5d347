"""One async function per command of the API. Each runs in the route's unit of work."""

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import domain, orm, ssrf, wakeup
from services.notifications.config import NotificationsSettings
from services.notifications.domain import DeliveryStatus
from services.notifications.ownership import get_owned, owner_for_new
from services.notifications.schemas import (
    DelegationCreate,
    EndpointCreate,
    EndpointUpdate,
    MembershipCreate,
    SubscriptionCreate,
)
from services.notifications.signing import new_secret
from shared.auth import Principal
from shared.problems import Conflict, FieldError, NotFound, Unprocessable

# --- delegations -----------------------------------------------------------------------------


async def register_delegation(session: AsyncSession, data: DelegationCreate) -> orm.Delegation:
    delegation = orm.Delegation(**data.model_dump(), stream_seq=0)
    session.add(delegation)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"delegation {data.code} is already registered") from exc
    return delegation


async def get_delegation(session: AsyncSession, code: str) -> orm.Delegation:
    delegation = await session.get(orm.Delegation, code)
    if delegation is None:
        raise NotFound(f"delegation {code} is not registered")
    return delegation


async def add_membership(
    session: AsyncSession, grouping: str, data: MembershipCreate
) -> orm.Membership:
    if await session.get(orm.Delegation, data.delegation) is None:
        message = f"delegation {data.delegation} is not registered"
        raise Unprocessable(message, errors=[FieldError(field="body.delegation", message=message)])
    membership = orm.Membership(
        grouping=grouping,
        delegation_code=data.delegation,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
    )
    session.add(membership)
    await session.flush()
    return membership


async def members_on(session: AsyncSession, grouping: str, day: date) -> list[str]:
    rows = await session.scalars(select(orm.Membership).where(orm.Membership.grouping == grouping))
    return domain.members_on(
        (domain.Membership(m.delegation_code, m.valid_from, m.valid_to) for m in rows), day
    )


# --- subscriptions ---------------------------------------------------------------------------


async def subscribe(
    session: AsyncSession, principal: Principal, data: SubscriptionCreate
) -> orm.Subscription:
    subscription = orm.Subscription(
        id=uuid.uuid4(),
        delegation_code=await owner_for_new(session, principal, data.delegation),
        target_kind=data.target_kind.value,
        target_key=data.target_key,
        event_types=data.event_types,
        statuses=list(data.statuses),
        channels=sorted({c.value for c in data.channels}),
        cadence=data.cadence.value,
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def unsubscribe(session: AsyncSession, principal: Principal, sub_id: uuid.UUID) -> None:
    await session.delete(
        await get_owned(session, orm.Subscription, sub_id, principal, "subscription")
    )


# --- endpoints -------------------------------------------------------------------------------


async def _checked_url(url: str, settings: NotificationsSettings, allow_loopback: bool) -> str:
    try:
        await ssrf.check_url(
            url, allow_loopback=allow_loopback, allow_http=settings.allow_http_webhooks
        )
    except ssrf.UnsafeURL as exc:
        raise Unprocessable(
            str(exc), errors=[FieldError(field="body.url", message=str(exc))]
        ) from exc
    return url


async def register_endpoint(
    session: AsyncSession,
    principal: Principal,
    data: EndpointCreate,
    settings: NotificationsSettings,
    allow_loopback: bool,
) -> orm.Endpoint:
    endpoint = orm.Endpoint(
        id=uuid.uuid4(),
        delegation_code=await owner_for_new(session, principal, data.delegation),
        url=await _checked_url(data.url, settings, allow_loopback),
        description=data.description,
        secret=new_secret(),
        event_types=data.event_types,
        enabled=True,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def change_endpoint(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    data: EndpointUpdate,
    settings: NotificationsSettings,
    allow_loopback: bool,
) -> orm.Endpoint:
    endpoint = await get_owned(session, orm.Endpoint, endpoint_id, principal, "endpoint")
    if data.url is not None:
        endpoint.url = await _checked_url(data.url, settings, allow_loopback)
    if data.description is not None:
        endpoint.description = data.description
    if data.event_types is not None:
        endpoint.event_types = data.event_types
    if data.enabled is True and not endpoint.enabled:
        endpoint.enabled = True
        endpoint.disabled_reason = endpoint.disabled_at = None
        endpoint.failing_since = endpoint.warned_at = None
        # What waited for it goes now, each with a fresh round of the retry schedule.
        await session.execute(
            update(orm.Delivery)
            .where(
                orm.Delivery.endpoint_id == endpoint.id,
                orm.Delivery.status == DeliveryStatus.PENDING.value,
            )
            .values(tries=0, next_attempt_at=func.now())
        )
        await wakeup.notify(session, wakeup.DELIVERIES)
    elif data.enabled is False and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = "manual"
        endpoint.disabled_at = datetime.now(UTC)
    await session.flush()
    return endpoint


async def rotate_secret(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    settings: NotificationsSettings,
) -> tuple[str, datetime]:
    endpoint = await get_owned(session, orm.Endpoint, endpoint_id, principal, "endpoint")
    until = datetime.now(UTC) + timedelta(seconds=settings.secret_overlap)
    endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, until
    endpoint.secret = new_secret()
    return endpoint.secret, until


async def remove_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> None:
    endpoint = await get_owned(session, orm.Endpoint, endpoint_id, principal, "endpoint")
    deliveries = select(orm.Delivery.id).where(orm.Delivery.endpoint_id == endpoint.id)
    await session.execute(
        delete(orm.DeliveryAttempt).where(orm.DeliveryAttempt.delivery_id.in_(deliveries))
    )
    await session.execute(delete(orm.Delivery).where(orm.Delivery.endpoint_id == endpoint.id))
    await session.delete(endpoint)


async def recover(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, since: datetime
) -> int:
    """Send again every delivery to the endpoint since ``since`` that ended failed."""
    endpoint = await get_owned(session, orm.Endpoint, endpoint_id, principal, "endpoint")
    result = await session.execute(
        update(orm.Delivery)
        .where(
            orm.Delivery.endpoint_id == endpoint.id,
            orm.Delivery.created_at >= since,
            orm.Delivery.status == DeliveryStatus.FAILED.value,
        )
        .values(status=DeliveryStatus.PENDING.value, tries=0, next_attempt_at=func.now())
        .returning(orm.Delivery.id)
    )
    scheduled = len(result.all())
    if scheduled:
        await wakeup.notify(session, wakeup.DELIVERIES)
    return scheduled


# --- deliveries ------------------------------------------------------------------------------


async def redeliver(session: AsyncSession, principal: Principal, delivery_id: int) -> orm.Delivery:
    """Send one delivery again, whatever its state, with its same ``webhook-id``."""
    delivery = await get_owned(session, orm.Delivery, delivery_id, principal, "delivery")
    delivery.status = DeliveryStatus.PENDING.value
    delivery.tries = 0
    delivery.next_attempt_at = datetime.now(UTC)
    await wakeup.notify(session, wakeup.DELIVERIES)
    await session.flush()
    return delivery


# --- inbox -----------------------------------------------------------------------------------


async def mark_read(session: AsyncSession, principal: Principal, entry_id: int) -> orm.InboxEntry:
    entry = await get_owned(session, orm.InboxEntry, entry_id, principal, "inbox entry")
    entry.read_at = entry.read_at or datetime.now(UTC)
    return entry


async def mark_all_read(session: AsyncSession, delegation: str) -> int:
    result = await session.execute(
        update(orm.InboxEntry)
        .where(orm.InboxEntry.delegation_code == delegation, orm.InboxEntry.read_at.is_(None))
        .values(read_at=func.now())
        .returning(orm.InboxEntry.id)
    )
    return len(result.all())

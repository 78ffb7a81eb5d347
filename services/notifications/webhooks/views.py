"""The read side of webhook endpoints and the delivery log, as response schemas (never an
endpoint's secret, except in the answer to its registration)."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from services.notifications.ownership import Scope, get_owned
from services.notifications.views import of_delegation, page
from services.notifications.webhooks.domain import DeliveryStatus
from services.notifications.webhooks.schemas import (
    AttemptRead,
    DeliveryDetail,
    DeliveryRead,
    EndpointCreated,
    EndpointRead,
)
from shared.pagination import Page


def endpoint_created(endpoint: orm.Endpoint, secret: str) -> EndpointCreated:
    """The answer to a registration: the endpoint with its secret, shown this once."""
    return EndpointCreated.model_validate(
        {**EndpointRead.model_validate(endpoint).model_dump(), "secret": secret}
    )


async def endpoints(
    session: AsyncSession, delegation: str | None, limit: int, cursor: str | None
) -> Page[EndpointRead]:
    query = select(orm.Endpoint).where(*of_delegation(orm.Endpoint, delegation))
    return await page(
        session, query, orm.Endpoint.number, limit, cursor, EndpointRead.model_validate
    )


async def endpoint(session: AsyncSession, endpoint_id: uuid.UUID, scope: Scope) -> EndpointRead:
    row = await get_owned(session, orm.Endpoint, endpoint_id, scope, "endpoint")
    return EndpointRead.model_validate(row)


async def deliveries(
    session: AsyncSession,
    delegation: str | None,
    endpoint_id: uuid.UUID | None,
    status: DeliveryStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[DeliveryRead]:
    query = (
        select(orm.Delivery, orm.ReceivedEvent)
        .join(orm.ReceivedEvent, orm.ReceivedEvent.id == orm.Delivery.event_row_id)
        .where(*of_delegation(orm.Delivery, delegation))
    )
    if endpoint_id is not None:
        query = query.where(orm.Delivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(orm.Delivery.status == status.value)
    return await page(
        session,
        query,
        orm.Delivery.id,
        limit,
        cursor,
        lambda row: _delivery_read(*row),
        scalars=False,
    )


async def delivery(session: AsyncSession, delivery: orm.Delivery) -> DeliveryRead:
    """A delivery just changed, with its event's id and type."""
    event = await session.get(orm.ReceivedEvent, delivery.event_row_id)
    assert event is not None
    return _delivery_read(delivery, event)


async def delivery_detail(session: AsyncSession, delivery_id: int, scope: Scope) -> DeliveryDetail:
    row = await get_owned(session, orm.Delivery, delivery_id, scope, "delivery")
    event = await session.get(orm.ReceivedEvent, row.event_row_id)
    assert event is not None
    attempts = await session.scalars(
        select(orm.DeliveryAttempt)
        .where(orm.DeliveryAttempt.delivery_id == row.id)
        .order_by(orm.DeliveryAttempt.id)
    )
    return DeliveryDetail.model_validate(
        {
            **_delivery_fields(row, event),
            "attempts": [AttemptRead.model_validate(a) for a in attempts],
        }
    )


def _delivery_read(delivery: orm.Delivery, event: orm.ReceivedEvent) -> DeliveryRead:
    return DeliveryRead.model_validate(_delivery_fields(delivery, event))


def _delivery_fields(delivery: orm.Delivery, event: orm.ReceivedEvent) -> dict[str, object]:
    return {
        **{c: getattr(delivery, c) for c in DeliveryRead.model_fields if hasattr(delivery, c)},
        "event_id": event.event_id,
        "event_type": event.event_type,
    }

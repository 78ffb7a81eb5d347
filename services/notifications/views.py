"""Read-side queries returning schemas; every list is newest first with a cursor."""

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, any_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from services.notifications.domain import Channel
from services.notifications.ownership import get_owned
from services.notifications.schemas import (
    ActivityRead,
    AttemptRead,
    DeliveryDetail,
    DeliveryRead,
    InboxEntryRead,
)
from shared.auth import Principal
from shared.pagination import Page, decode_cursor, encode_cursor

T = TypeVar("T")


async def page(
    session: AsyncSession,
    query: Select,
    key: Any,
    limit: int,
    cursor: str | None,
    to_item: Callable[[Any], T],
    *,
    scalars: bool = True,
) -> Page[T]:
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(key < after)
    query = query.order_by(key.desc()).limit(limit + 1)
    result = await session.execute(query)
    rows: Sequence[Any] = result.scalars().all() if scalars else result.all()
    more = len(rows) > limit
    rows = rows[:limit]
    last = (rows[-1] if scalars else rows[-1][0]) if rows else None
    last_key = getattr(last, key.key) if last is not None else None
    return Page[T](
        items=[to_item(r) for r in rows],
        next_cursor=encode_cursor(last_key) if more and last_key is not None else None,
    )


def on_channel(channel: Channel) -> ColumnElement[bool]:
    return literal(channel.value) == any_(orm.InboxEntry.channels)


def owned_by(model: Any, delegation: str | None) -> Select:
    """A model's rows, all of them or one delegation's."""
    return select(model).where(*_where_delegation(model, delegation))


def _where_delegation(model: Any, delegation: str | None) -> list[ColumnElement[bool]]:
    return [] if delegation is None else [model.delegation_code == delegation]


def delivery_read(row: Any, model: type[DeliveryRead] = DeliveryRead, **extra: Any) -> Any:
    delivery, event = row
    return model.model_validate(
        {
            **{c: getattr(delivery, c) for c in DeliveryRead.model_fields if hasattr(delivery, c)},
            "event_id": event.event_id,
            "event_type": event.event_type,
            **extra,
        }
    )


def deliveries_query(
    delegation: str | None, endpoint_id: uuid.UUID | None, status: str | None
) -> Select:
    query = select(orm.Delivery, orm.ReceivedEvent).join(
        orm.ReceivedEvent, orm.ReceivedEvent.id == orm.Delivery.event_row_id
    )
    query = query.where(*_where_delegation(orm.Delivery, delegation))
    if endpoint_id is not None:
        query = query.where(orm.Delivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(orm.Delivery.status == status)
    return query


async def delivery_detail(
    session: AsyncSession, principal: Principal, delivery_id: int
) -> DeliveryDetail:
    delivery = await get_owned(session, orm.Delivery, delivery_id, principal, "delivery")
    event = await session.get(orm.ReceivedEvent, delivery.event_row_id)
    attempts = await session.scalars(
        select(orm.DeliveryAttempt)
        .where(orm.DeliveryAttempt.delivery_id == delivery.id)
        .order_by(orm.DeliveryAttempt.id)
    )
    detail: DeliveryDetail = delivery_read(
        (delivery, event),
        DeliveryDetail,
        attempts=[AttemptRead.model_validate(a) for a in attempts],
    )
    return detail


def inbox_query(delegation: str | None, unread_only: bool) -> Select:
    query = select(orm.InboxEntry).where(
        on_channel(Channel.INBOX),
        *_where_delegation(orm.InboxEntry, delegation),
    )
    if unread_only:
        query = query.where(orm.InboxEntry.read_at.is_(None))
    return query


async def unread_count(session: AsyncSession, delegation: str) -> int:
    query = inbox_query(delegation, unread_only=True).with_only_columns(func.count())
    return int(await session.scalar(query) or 0)


def activity_query(plan_id: uuid.UUID | None) -> Select:
    query = select(orm.ReceivedEvent)
    return query if plan_id is None else query.where(orm.ReceivedEvent.plan_id == plan_id)


def to_inbox(row: orm.InboxEntry) -> InboxEntryRead:
    return InboxEntryRead.model_validate(row)


def to_activity(row: orm.ReceivedEvent) -> ActivityRead:
    return ActivityRead.model_validate(row)

"""The read side of delegations, groupings, subscriptions and the activity feed: async
functions returning response schemas; every list is newest first with a cursor (``page``,
which the features' views use too)."""

import uuid
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import domain, orm
from services.notifications.domain import DelegationNotRegistered
from services.notifications.ownership import Scope, get_owned
from services.notifications.schemas import (
    ActivityRead,
    DelegationRead,
    GroupingMembers,
    RoleHolders,
    SubscriptionRead,
)
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
    """One page of ``query``'s rows, newest first by ``key`` (a column that grows), each row
    turned into an item by ``to_item`` (a row is a tuple when ``scalars`` is false)."""
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


Owned = (
    type[orm.Subscription]
    | type[orm.Endpoint]
    | type[orm.Delivery]
    | type[orm.InboxEntry]
    | type[orm.Contact]
    | type[orm.EmailDelivery]
)


def of_delegation(model: Owned, delegation: str | None) -> list[ColumnElement[bool]]:
    """The condition that a model's rows are one delegation's (none for every delegation)."""
    return [] if delegation is None else [model.delegation_code == delegation]


# --- delegations -----------------------------------------------------------------------------


async def delegations(session: AsyncSession) -> list[DelegationRead]:
    rows = await session.scalars(select(orm.Delegation).order_by(orm.Delegation.code))
    return [DelegationRead.model_validate(r) for r in rows]


async def delegation(session: AsyncSession, code: str) -> DelegationRead:
    row = await session.get(orm.Delegation, code)
    if row is None:
        raise DelegationNotRegistered(code)
    return DelegationRead.model_validate(row)


async def grouping_members(session: AsyncSession, grouping: str, on: date) -> GroupingMembers:
    rows = await session.scalars(select(orm.Membership).where(orm.Membership.grouping == grouping))
    members = domain.members_on(
        (domain.Membership(m.delegation_code, m.valid_from, m.valid_to) for m in rows), on
    )
    return GroupingMembers(grouping=grouping, on=on, members=members)


async def role_holders(session: AsyncSession, role: str, on: date) -> RoleHolders:
    if await session.get(orm.Role, role) is None:
        raise domain.RoleNotDefined(role)
    rows = await session.scalars(
        select(orm.RoleAssignment).where(
            orm.RoleAssignment.role == role, orm.RoleAssignment.meeting_id.is_(None)
        )
    )
    holders = domain.holders_on(
        (domain.RoleAssignment(a.delegation_code, a.valid_from, a.valid_to) for a in rows), on
    )
    return RoleHolders(role=role, on=on, holders=holders)


# --- subscriptions ---------------------------------------------------------------------------


async def subscriptions(
    session: AsyncSession, delegation: str | None, limit: int, cursor: str | None
) -> Page[SubscriptionRead]:
    query = select(orm.Subscription).where(*of_delegation(orm.Subscription, delegation))
    return await page(
        session, query, orm.Subscription.number, limit, cursor, SubscriptionRead.model_validate
    )


async def subscription(
    session: AsyncSession, subscription_id: uuid.UUID, scope: Scope
) -> SubscriptionRead:
    row = await get_owned(session, orm.Subscription, subscription_id, scope, "subscription")
    return SubscriptionRead.model_validate(row)


# --- activity --------------------------------------------------------------------------------


async def activity(
    session: AsyncSession, plan_id: uuid.UUID | None, limit: int, cursor: str | None
) -> Page[ActivityRead]:
    # This service's own digests are kept with the events for their deliveries; not taken in.
    query = select(orm.ReceivedEvent).where(
        orm.ReceivedEvent.event_type.not_like("org.accord.notifications.%")
    )
    if plan_id is not None:
        query = query.where(orm.ReceivedEvent.plan_id == plan_id)
    return await page(
        session, query, orm.ReceivedEvent.id, limit, cursor, ActivityRead.model_validate
    )

"""Who a subscription tells about one event: its own delegation, or, for one addressed to a
grouping or a role, the members or holders **on the event's effective date**
(``domain.effective_date``): a member that joined later is told nothing dated before it
joined, a role's holder of 2020 what is dated 2020. A meeting's ``co-chairs`` are that
meeting's, as the meetings service named them.

Each subscription becomes one rule per delegation it reaches; ``domain.recipients`` then
merges a delegation's rules, so a member that also follows the item itself is told once.
"""

import dataclasses
from collections.abc import Sequence
from datetime import date

from sqlalchemy import ARRAY, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import NullType

from services.notifications import orm
from services.notifications.domain import (
    Membership,
    RoleAssignment,
    holders_on,
    members_on,
)
from services.notifications.intake.domain import Consumed, SubscriptionRule, meeting_of
from shared.prepared import Row

# What a rule needs of a subscription. asyncpg hands PostgreSQL arrays over as lists already;
# SQLAlchemy's ARRAY type walked every one of them again (a sixth of a fan-out to 10,000), so
# the array columns are read as they come.
SUBSCRIPTION_COLUMNS = tuple(
    type_coerce(column, NullType()).label(column.key) if isinstance(column.type, ARRAY) else column
    for column in (
        orm.Subscription.delegation_code,
        orm.Subscription.grouping,
        orm.Subscription.role,
        orm.Subscription.event_types,
        orm.Subscription.statuses,
        orm.Subscription.channels,
        orm.Subscription.cadence,
        orm.Subscription.target_kind,
        orm.Subscription.target_key,
        orm.Subscription.thresholds,
    )
)


async def rules_for(
    session: AsyncSession, subscriptions: Sequence[Row], event: Consumed, on: date
) -> list[SubscriptionRule]:
    """``subscriptions`` are rows of ``SUBSCRIPTION_COLUMNS``."""
    groupings = {s["grouping"] for s in subscriptions if s["grouping"] is not None}
    roles = {s["role"] for s in subscriptions if s["role"] is not None}
    members = await _members(session, groupings, on)
    holders = await _holders(session, roles, on, event)
    rules = []
    for s in subscriptions:
        rule = SubscriptionRule(
            delegation=s["delegation_code"] or "",
            event_types=s["event_types"],
            statuses=s["statuses"],
            channels=s["channels"],
            cadence=s["cadence"],
            target_kind=s["target_kind"],
            target_key=s["target_key"],
            thresholds=s["thresholds"],
        )
        if s["delegation_code"] is not None:
            rules.append(rule)
            continue
        grouping, role = s["grouping"], s["role"]
        reached = members[grouping] if grouping is not None else holders[role or ""]
        rules.extend(dataclasses.replace(rule, delegation=code) for code in reached)
    return rules


async def _members(session: AsyncSession, groupings: set[str], on: date) -> dict[str, list[str]]:
    if not groupings:
        return {}
    rows = (
        await session.scalars(select(orm.Membership).where(orm.Membership.grouping.in_(groupings)))
    ).all()
    return {
        grouping: members_on(
            (
                Membership(m.delegation_code, m.valid_from, m.valid_to)
                for m in rows
                if m.grouping == grouping
            ),
            on,
        )
        for grouping in groupings
    }


async def _holders(
    session: AsyncSession, roles: set[str], on: date, event: Consumed
) -> dict[str, list[str]]:
    if not roles:
        return {}
    rows = (
        await session.scalars(select(orm.RoleAssignment).where(orm.RoleAssignment.role.in_(roles)))
    ).all()
    meeting = meeting_of(event)
    return {
        role: holders_on(
            (
                RoleAssignment(a.delegation_code, a.valid_from, a.valid_to, a.meeting_id)
                for a in rows
                if a.role == role
            ),
            on,
            meeting,
        )
        for role in roles
    }

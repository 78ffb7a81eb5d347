"""Command functions of delegations, groupings and subscriptions. Each takes the session of
its caller's unit of work and a command, and refuses with the domain's errors.

The commands of webhooks and of the inbox are in their features' ``handlers.py``; the intake's
(an event taken in) in ``intake/handlers.py``.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import domain, events, orm
from services.notifications.domain import (
    Cadence,
    Channel,
    DelegationAlreadyRegistered,
    DelegationNotRegistered,
    TargetKind,
    UnknownTarget,
)
from services.notifications.ownership import SUBSCRIPTIONS_CAP, Scope, get_owned, owner_of_new
from shared import errors

# --- delegations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterDelegation:
    code: str
    name: str
    timezone: str
    contact: str | None = None
    digest_hour: int = 9


async def register_delegation(session: AsyncSession, command: RegisterDelegation) -> orm.Delegation:
    delegation = orm.Delegation(
        code=command.code,
        name=command.name,
        timezone=command.timezone,
        contact=command.contact,
        digest_hour=command.digest_hour,
        stream_seq=0,
    )
    session.add(delegation)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise DelegationAlreadyRegistered(command.code) from exc
    await events.outbox.add(
        session, events.delegation_registered(delegation), subject=events.subject(delegation.code)
    )
    return delegation


@dataclass(frozen=True)
class UpdateDelegation:
    """Change a delegation's descriptive fields: only those in ``changes`` (name, timezone,
    contact, digest_hour); its code, which everything refers to, never changes."""

    code: str
    changes: Mapping[str, object]


async def update_delegation(session: AsyncSession, command: UpdateDelegation) -> orm.Delegation:
    delegation = await session.get(orm.Delegation, command.code, with_for_update=True)
    if delegation is None:
        raise DelegationNotRegistered(command.code)
    for field, value in command.changes.items():
        setattr(delegation, field, value)
    await session.flush()
    return delegation


@dataclass(frozen=True)
class AddMembership:
    """A delegation is a member of a grouping from a date (and, optionally, until one)."""

    grouping: str
    delegation: str
    valid_from: date
    valid_to: date | None = None


async def add_membership(session: AsyncSession, command: AddMembership) -> orm.Membership:
    if await session.get(orm.Delegation, command.delegation) is None:
        raise DelegationNotRegistered(command.delegation, field="delegation")
    membership = orm.Membership(
        grouping=command.grouping,
        delegation_code=command.delegation,
        valid_from=command.valid_from,
        valid_to=command.valid_to,
    )
    session.add(membership)
    await session.flush()
    return membership


# --- roles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DefineRole:
    """A role delegations hold in turn (the ASEAN Chair: one at a time) or together."""

    name: str
    single_holder: bool
    description: str | None = None


async def define_role(session: AsyncSession, command: DefineRole) -> orm.Role:
    role = orm.Role(
        name=command.name, single_holder=command.single_holder, description=command.description
    )
    session.add(role)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise domain.RoleAlreadyDefined(command.name) from exc
    return role


@dataclass(frozen=True)
class AssignRole:
    """A delegation holds a role from a date (and, optionally, until one, inclusive)."""

    role: str
    delegation: str
    valid_from: date
    valid_to: date | None = None


async def assign_role(session: AsyncSession, command: AssignRole) -> orm.RoleAssignment:
    # Locked: two assignments of a single-holder role at once cannot both pass the check.
    role = await session.get(orm.Role, command.role, with_for_update=True)
    if role is None:
        raise domain.RoleNotDefined(command.role, field="role")
    if role.name == domain.CO_CHAIRS:
        raise domain.AssignedByMeetings(role.name)
    if await session.get(orm.Delegation, command.delegation) is None:
        raise DelegationNotRegistered(command.delegation, field="delegation")
    new = domain.RoleAssignment(command.delegation, command.valid_from, command.valid_to)
    if role.single_holder:
        held = await session.scalars(
            select(orm.RoleAssignment).where(orm.RoleAssignment.role == role.name)
        )
        for row in held:
            other = domain.RoleAssignment(row.delegation_code, row.valid_from, row.valid_to)
            if new.overlaps(other):
                raise domain.OverlappingAssignment(role.name, other)
    assignment = orm.RoleAssignment(
        role=role.name,
        delegation_code=command.delegation,
        valid_from=command.valid_from,
        valid_to=command.valid_to,
    )
    session.add(assignment)
    await session.flush()
    return assignment


# --- subscriptions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscribe:
    """Follow a target for some event types and statuses (empty: all), on some channels, at
    a cadence. ``delegation`` is whose subscription it is (see ``ownership.acting_for``);
    instead, the secretariat may address it to a ``grouping`` (its members on each event's
    date) or a ``role`` (its holders on each event's date)."""

    delegation: str | None
    target_kind: TargetKind
    target_key: str
    channels: Sequence[Channel]
    event_types: Sequence[str] = ()
    statuses: Sequence[str] = ()
    cadence: Cadence = Cadence.IMMEDIATE
    thresholds: Sequence[float] = ()
    grouping: str | None = None
    role: str | None = None


async def subscribe(session: AsyncSession, command: Subscribe, *, cap: int) -> orm.Subscription:
    """``cap``: the most subscriptions one delegation may hold (the operator's setting)."""
    delegation = None
    if command.role is not None:
        if await session.get(orm.Role, command.role) is None:
            raise domain.RoleNotDefined(command.role, field="role")
    elif command.grouping is not None:
        known = select(orm.Membership.id).where(orm.Membership.grouping == command.grouping)
        if await session.scalar(known.limit(1)) is None:
            raise errors.Invalid(
                "grouping", f"grouping {command.grouping} has no members on any date"
            )
    else:
        delegation = await owner_of_new(session, command.delegation)
        await SUBSCRIPTIONS_CAP.check(session, delegation, limit=cap)
    await _check_target_known(session, command.target_kind, command.target_key)
    subscription = orm.Subscription(
        id=uuid.uuid4(),
        delegation_code=delegation,
        grouping=command.grouping,
        role=command.role,
        target_kind=command.target_kind.value,
        target_key=command.target_key,
        event_types=list(command.event_types),
        statuses=list(command.statuses),
        channels=sorted({c.value for c in command.channels}),
        cadence=command.cadence.value,
        thresholds=sorted(set(command.thresholds)),
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def _check_target_known(session: AsyncSession, kind: TargetKind, key: str) -> None:
    """A subscription to what notifications has never heard of would never fire: refuse it.
    Known means seen in plans' or meetings' events (the read models): a plan, section or line
    created a moment ago is known as soon as its event is taken in, a meeting series once a
    meeting of it is scheduled. A tag is any label, so any tag is accepted."""
    if kind is TargetKind.TAG:
        return
    if kind is TargetKind.MEETING_SERIES:
        query = select(orm.Meeting.id).where(orm.Meeting.series == key).limit(1)
    else:
        node_kind = {TargetKind.PLAN: "plan", TargetKind.SECTION: "section"}.get(
            kind, "action_line"
        )
        query = select(orm.PlanNode.id).where(
            orm.PlanNode.id == uuid.UUID(key), orm.PlanNode.kind == node_kind
        )
    if await session.scalar(query) is None:
        raise UnknownTarget(kind, key)


@dataclass(frozen=True)
class Unsubscribe:
    subscription_id: uuid.UUID
    scope: Scope


async def unsubscribe(session: AsyncSession, command: Unsubscribe) -> None:
    await session.delete(
        await get_owned(
            session, orm.Subscription, command.subscription_id, command.scope, "subscription"
        )
    )

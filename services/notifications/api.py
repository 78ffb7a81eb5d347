"""HTTP routes: delegations, groupings, subscriptions and the activity feed. (Webhooks' and
the inbox's routes are in their features' ``api.py``.)"""

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from services.notifications import handlers, views
from services.notifications.ownership import acting_for, filter_delegation, scope_of
from services.notifications.schemas import (
    CAPPED,
    CONFLICT,
    NOT_FOUND,
    ActivityRead,
    DelegationCreate,
    DelegationRead,
    DelegationUpdate,
    GroupingMembers,
    MembershipCreate,
    MembershipRead,
    SubscriptionCreate,
    SubscriptionRead,
    WhoseDelegation,
)
from shared.auth import AnyPrincipal, Role, Secretariat
from shared.http import read_only, unit_of_work
from shared.pagination import Cursor, Limit, Page
from shared.problems import Forbidden

router = APIRouter()

GroupingName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,50}$", examples=["ASEAN"])]


@router.post(
    "/delegations",
    status_code=status.HTTP_201_CREATED,
    response_model=DelegationRead,
    responses=CONFLICT,
    tags=["delegations"],
)
async def register_delegation(
    body: DelegationCreate, request: Request, principal: Secretariat
) -> DelegationRead:
    """Register a delegation (a member state's mission, the UN, a partner) as a subscriber.
    The ten ASEAN member states, Timor-Leste, the UN and the ASEAN Secretariat are registered
    from the start."""
    command = handlers.RegisterDelegation(**body.model_dump())
    async with unit_of_work(request) as session:
        delegation = await handlers.register_delegation(session, command)
    return DelegationRead.model_validate(delegation)


@router.get("/delegations", response_model=list[DelegationRead], tags=["delegations"])
async def list_delegations(request: Request, principal: AnyPrincipal) -> list[DelegationRead]:
    """Every registered delegation, by code."""
    async with read_only(request) as session:
        return await views.delegations(session)


@router.get(
    "/delegations/{code}", response_model=DelegationRead, responses=NOT_FOUND, tags=["delegations"]
)
async def read_delegation(code: str, request: Request, principal: AnyPrincipal) -> DelegationRead:
    """One delegation: its name, time zone (digests are timed in it) and contact."""
    async with read_only(request) as session:
        return await views.delegation(session, code)


@router.patch(
    "/delegations/{code}", response_model=DelegationRead, responses=NOT_FOUND, tags=["delegations"]
)
async def update_delegation(
    code: str, body: DelegationUpdate, request: Request, principal: AnyPrincipal
) -> DelegationRead:
    """Change a delegation's name, time zone, contact or digest hour (only the fields sent).
    The secretariat may change any delegation; a delegation its own."""
    if scope_of(principal) not in (None, code):
        raise Forbidden("a delegation may only change itself")
    command = handlers.UpdateDelegation(code=code, changes=body.model_dump(exclude_unset=True))
    async with unit_of_work(request) as session:
        delegation = await handlers.update_delegation(session, command)
    return DelegationRead.model_validate(delegation)


@router.post(
    "/groupings/{grouping}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=MembershipRead,
    tags=["delegations"],
)
async def add_member(
    grouping: GroupingName, body: MembershipCreate, request: Request, principal: Secretariat
) -> MembershipRead:
    """Record that a delegation is a member of a grouping from a date (and, optionally, until
    one): e.g. Timor-Leste in ASEAN from 2025-10-26."""
    command = handlers.AddMembership(grouping=grouping, **body.model_dump())
    async with unit_of_work(request) as session:
        membership = await handlers.add_membership(session, command)
    return MembershipRead.model_validate(membership)


@router.get("/groupings/{grouping}/members", response_model=GroupingMembers, tags=["delegations"])
async def grouping_members(
    grouping: GroupingName,
    request: Request,
    principal: AnyPrincipal,
    on: Annotated[date, Query(description="The date of interest", examples=["2020-09-15"])],
) -> GroupingMembers:
    """The members of a grouping on a date: ASEAN on 2020-09-15 has ten."""
    async with read_only(request) as session:
        return await views.grouping_members(session, grouping, on)


@router.post(
    "/subscriptions",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionRead,
    responses=CAPPED,
    tags=["subscriptions"],
)
async def subscribe(
    body: SubscriptionCreate, request: Request, principal: AnyPrincipal
) -> SubscriptionRead:
    """Follow a plan, a section (and everything under it), an action line, an area tag or a
    meeting series, for chosen event types and statuses, on chosen channels, immediately or
    in a digest. A delegation subscribes for itself; the secretariat names the delegation.
    However many of a delegation's subscriptions match an event, it is told once."""
    command = handlers.Subscribe(
        delegation=acting_for(principal, body.delegation),
        target_kind=body.target_kind,
        target_key=body.target_key,
        channels=body.channels,
        event_types=body.event_types,
        statuses=body.statuses,
        cadence=body.cadence,
        thresholds=body.thresholds,
    )
    cap = request.app.state.notifications_settings.max_subscriptions_per_delegation
    async with unit_of_work(request) as session:
        subscription = await handlers.subscribe(session, command, cap=cap)
    return SubscriptionRead.model_validate(subscription)


@router.get("/subscriptions", response_model=Page[SubscriptionRead], tags=["subscriptions"])
async def list_subscriptions(
    request: Request,
    principal: AnyPrincipal,
    delegation: WhoseDelegation = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SubscriptionRead]:
    """The caller's subscriptions (the secretariat's: everyone's), newest first."""
    code = filter_delegation(principal, delegation)
    async with read_only(request) as session:
        return await views.subscriptions(session, code, limit, cursor)


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionRead,
    responses=NOT_FOUND,
    tags=["subscriptions"],
)
async def read_subscription(
    subscription_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> SubscriptionRead:
    """One subscription."""
    scope = scope_of(principal)
    async with read_only(request) as session:
        return await views.subscription(session, subscription_id, scope)


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    tags=["subscriptions"],
)
async def unsubscribe(
    subscription_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> Response:
    """Stop following; what was already sent stays sent."""
    command = handlers.Unsubscribe(subscription_id, scope_of(principal))
    async with unit_of_work(request) as session:
        await handlers.unsubscribe(session, command)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/activity", response_model=Page[ActivityRead], tags=["activity"])
async def list_activity(
    request: Request,
    principal: AnyPrincipal,
    plan_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ActivityRead]:
    """Every event this service has taken in (from plans and meetings), newest first; with
    `plan_id`, only that plan's. Secretariat and viewers only."""
    if principal.role is Role.DELEGATION:
        raise Forbidden("the activity feed is for the secretariat and viewers")
    async with read_only(request) as session:
        return await views.activity(session, plan_id, limit, cursor)

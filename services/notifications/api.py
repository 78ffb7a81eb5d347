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
    RoleAssignmentCreate,
    RoleAssignmentRead,
    RoleCreate,
    RoleHolders,
    RoleRead,
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
    "/roles",
    status_code=status.HTTP_201_CREATED,
    response_model=RoleRead,
    responses=CONFLICT,
    tags=["delegations"],
)
async def define_role(body: RoleCreate, request: Request, principal: Secretariat) -> RoleRead:
    """Define a role delegations hold for a period: one at a time (`single_holder`, the ASEAN
    Chair) or several together (coordinators). `co-chairs` is defined from the start: a
    meeting's, as the meetings service names them."""
    command = handlers.DefineRole(**body.model_dump())
    async with unit_of_work(request) as session:
        role = await handlers.define_role(session, command)
    return RoleRead.model_validate(role)


@router.post(
    "/role-assignments",
    status_code=status.HTTP_201_CREATED,
    response_model=RoleAssignmentRead,
    tags=["delegations"],
)
async def assign_role(
    body: RoleAssignmentCreate, request: Request, principal: Secretariat
) -> RoleAssignmentRead:
    """Record that a delegation holds a role from a date (and, optionally, until one,
    inclusive): e.g. Viet Nam the ASEAN Chair from 2020-01-01 to 2020-12-31. An assignment of
    a single-holder role that overlaps another is refused (422 on `valid_from`)."""
    command = handlers.AssignRole(**body.model_dump())
    async with unit_of_work(request) as session:
        assignment = await handlers.assign_role(session, command)
    return RoleAssignmentRead.model_validate(assignment)


@router.get(
    "/roles/{role}/holders", response_model=RoleHolders, responses=NOT_FOUND, tags=["delegations"]
)
async def role_holders(
    role: Annotated[str, Path(max_length=100, examples=["ASEAN Chair"])],
    request: Request,
    principal: AnyPrincipal,
    on: Annotated[date, Query(description="The date of interest", examples=["2020-09-15"])],
) -> RoleHolders:
    """Who holds a role on a date: the ASEAN Chair on 2020-09-15 is Viet Nam."""
    async with read_only(request) as session:
        return await views.role_holders(session, role, on)


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
    in a digest. A delegation subscribes for itself; the secretariat names the delegation, or
    addresses the subscription to a grouping (its members on each event's date) or a role
    (its holders on each event's date; `co-chairs`: the event's meeting's). However many
    subscriptions reach a delegation for one event, it is told once."""
    addressed = body.grouping is not None or body.role is not None
    if addressed and not principal.is_secretariat:
        raise Forbidden("only the secretariat addresses a subscription to a grouping or role")
    command = handlers.Subscribe(
        delegation=None if addressed else acting_for(principal, body.delegation),
        grouping=body.grouping,
        role=body.role,
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

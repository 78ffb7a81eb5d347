"""HTTP routes of the plans service: parse, build a command, call the handler, answer."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from sqlalchemy import select, tuple_

from services.plans import domain, handlers, orm
from services.plans.domain import LineStatus, PlanStatus
from services.plans.schemas import (
    ActionLineCreate,
    ActionLineRead,
    ActionLineUpdate,
    PlanApprove,
    PlanCreate,
    PlanRead,
    PlanSubmit,
    SectionCreate,
    SectionRead,
    StatusChangeRequest,
)
from shared.auth import AnyPrincipal, Principal, Secretariat
from shared.contracts.plans import ChangeSource
from shared.http import etag, parse_if_match, read_only, unit_of_work
from shared.pagination import Cursor, Limit, Page, decode_key_cursor, encode_key_cursor, page_of
from shared.problems import (
    Conflict,
    FieldError,
    PreconditionFailed,
    PreconditionRequired,
    Problem,
    ProblemDetail,
)

router = APIRouter(tags=["plans"])

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ProblemDetail,
        "description": "Duplicate code, stale version or forbidden transition",
    }
}
_PRECONDITIONS: dict[int | str, dict[str, Any]] = {
    412: {"model": ProblemDetail, "description": "`If-Match` names a version that is not current"},
    428: {
        "model": ProblemDetail,
        "description": "Neither `If-Match` nor `expected_version` was sent",
    },
}
IfMatch = Annotated[
    str | None, Header(description='The ETag of the version being changed, e.g. "3"')
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ProblemDetail, "description": "No such plan, section or action line"}
}


@router.post(
    "/plans", status_code=status.HTTP_201_CREATED, response_model=PlanRead, responses=_CONFLICT
)
async def create_plan(body: PlanCreate, request: Request, principal: Secretariat) -> PlanRead:
    """Create a plan of action, in the draft state."""
    async with unit_of_work(request) as session:
        plan = await handlers.create_plan(session, body)
    return PlanRead.model_validate(plan)


@router.get("/plans", response_model=Page[PlanRead])
async def list_plans(
    request: Request,
    principal: AnyPrincipal,
    status_: Annotated[PlanStatus | None, Query(alias="status")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[PlanRead]:
    """Plans of action, by code."""
    query = select(orm.Plan).order_by(orm.Plan.code).limit(limit + 1)
    if status_ is not None:
        query = query.where(orm.Plan.status == status_.value)
    after = decode_key_cursor(cursor, 1)
    if after is not None:
        query = query.where(orm.Plan.code > str(after[0]))
    async with read_only(request) as session:
        rows = list((await session.scalars(query)).all())
    items, next_cursor = page_of(rows, limit, lambda p: encode_key_cursor(p.code))
    return Page[PlanRead](
        items=[PlanRead.model_validate(p) for p in items], next_cursor=next_cursor
    )


@router.get("/plans/{plan_id}", response_model=PlanRead, responses=_NOT_FOUND)
async def read_plan(plan_id: uuid.UUID, request: Request, principal: AnyPrincipal) -> PlanRead:
    """A plan of action."""
    async with read_only(request) as session:
        return PlanRead.model_validate(await handlers.get_plan(session, plan_id))


@router.post("/plans/{plan_id}/submit", response_model=PlanRead, responses=_CONFLICT | _NOT_FOUND)
async def submit_plan(
    plan_id: uuid.UUID, body: PlanSubmit, request: Request, principal: Secretariat
) -> PlanRead:
    """Submit a draft plan for approval, optionally to a named future meeting."""
    return await _move_plan(
        request,
        principal,
        plan_id,
        PlanStatus.SUBMITTED,
        submitted_to_meeting_id=body.submitted_to_meeting_id,
    )


@router.post("/plans/{plan_id}/approve", response_model=PlanRead, responses=_CONFLICT | _NOT_FOUND)
async def approve_plan(
    plan_id: uuid.UUID, body: PlanApprove, request: Request, principal: Secretariat
) -> PlanRead:
    """Approve a submitted plan. With a predecessor, its unfinished lines (neither completed nor
    discontinued) are carried over, each keeping a link to the line it continues.
    A meeting's approval decision does the same through the meetings service's events."""
    return await _move_plan(
        request,
        principal,
        plan_id,
        PlanStatus.APPROVED,
        carry_over_unfinished=body.carry_over_unfinished,
    )


@router.post("/plans/{plan_id}/activate", response_model=PlanRead, responses=_CONFLICT | _NOT_FOUND)
async def activate_plan(plan_id: uuid.UUID, request: Request, principal: Secretariat) -> PlanRead:
    """Make an approved plan the active one; its predecessor becomes superseded."""
    return await _move_plan(request, principal, plan_id, PlanStatus.ACTIVE)


@router.post("/plans/{plan_id}/complete", response_model=PlanRead, responses=_CONFLICT | _NOT_FOUND)
async def complete_plan(plan_id: uuid.UUID, request: Request, principal: Secretariat) -> PlanRead:
    """Close an active plan as completed."""
    return await _move_plan(request, principal, plan_id, PlanStatus.COMPLETED)


async def _move_plan(
    request: Request, principal: Principal, plan_id: uuid.UUID, target: PlanStatus, **options: Any
) -> PlanRead:
    command = handlers.ChangePlanStatus(
        plan_id=plan_id,
        status=target,
        source=ChangeSource(kind="api", id=principal.subject),
        **options,
    )
    try:
        async with unit_of_work(request) as session:
            plan = await handlers.change_plan_status(session, command)
    except domain.ForbiddenPlanTransition as exc:
        raise Conflict(str(exc), allowed=exc.allowed) from exc
    return PlanRead.model_validate(plan)


@router.get("/plans/{plan_id}/sections", response_model=list[SectionRead], responses=_NOT_FOUND)
async def list_sections(
    plan_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> list[SectionRead]:
    """Every section of the plan, parents before children, siblings by ordering key."""
    async with read_only(request) as session:
        await handlers.get_plan(session, plan_id)
        rows = list(
            (await session.scalars(select(orm.Section).where(orm.Section.plan_id == plan_id))).all()
        )
    by_id = {s.id: s for s in rows}
    rows.sort(key=lambda s: [by_id[p].ordering_key if p in by_id else "" for p in s.path])
    return [SectionRead.model_validate(s) for s in rows]


@router.get(
    "/plans/{plan_id}/action-lines", response_model=Page[ActionLineRead], responses=_NOT_FOUND
)
async def list_action_lines(
    plan_id: uuid.UUID,
    request: Request,
    principal: AnyPrincipal,
    section_id: Annotated[
        uuid.UUID | None, Query(description="Lines anywhere under this section")
    ] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    status_: Annotated[LineStatus | None, Query(alias="status")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ActionLineRead]:
    """The plan's action lines by ordering key, filtered by section subtree, tag or status."""
    query = select(orm.ActionLine).where(orm.ActionLine.plan_id == plan_id)
    if section_id is not None:
        subtree = select(orm.Section.id).where(orm.Section.path.contains([section_id]))
        query = query.where(orm.ActionLine.section_id.in_(subtree))
    if tag is not None:
        query = query.where(orm.ActionLine.tags.contains([tag]))
    if status_ is not None:
        query = query.where(orm.ActionLine.status == status_.value)
    after = decode_key_cursor(cursor, 2)
    if after is not None:
        query = query.where(
            tuple_(orm.ActionLine.ordering_key, orm.ActionLine.code) > tuple_(*map(str, after))
        )
    query = query.order_by(orm.ActionLine.ordering_key, orm.ActionLine.code).limit(limit + 1)
    async with read_only(request) as session:
        await handlers.get_plan(session, plan_id)
        rows = list((await session.scalars(query)).all())
    items, next_cursor = page_of(
        rows, limit, lambda line: encode_key_cursor(line.ordering_key, line.code)
    )
    return Page[ActionLineRead](
        items=[ActionLineRead.model_validate(r) for r in items], next_cursor=next_cursor
    )


@router.post(
    "/plans/{plan_id}/sections",
    status_code=status.HTTP_201_CREATED,
    response_model=SectionRead,
    responses=_CONFLICT | _NOT_FOUND,
)
async def add_section(
    plan_id: uuid.UUID, body: SectionCreate, request: Request, principal: Secretariat
) -> SectionRead:
    """Add a section (a pillar, an area, a sub-area...) under the plan or under another section."""
    async with unit_of_work(request) as session:
        section = await handlers.add_section(session, plan_id, body)
    return SectionRead.model_validate(section)


@router.post(
    "/plans/{plan_id}/action-lines",
    status_code=status.HTTP_201_CREATED,
    response_model=ActionLineRead,
    responses=_CONFLICT | _NOT_FOUND,
)
async def add_action_line(
    plan_id: uuid.UUID,
    body: ActionLineCreate,
    request: Request,
    response: Response,
    principal: Secretariat,
) -> ActionLineRead:
    """Add an action line to the plan; it starts as `not_started`, at version 1."""
    async with unit_of_work(request) as session:
        line = await handlers.add_action_line(session, plan_id, body)
    response.headers["ETag"] = etag(line.version)
    return ActionLineRead.model_validate(line)


@router.get("/action-lines/{line_id}", response_model=ActionLineRead, responses=_NOT_FOUND)
async def read_action_line(
    line_id: uuid.UUID, request: Request, response: Response, principal: AnyPrincipal
) -> ActionLineRead:
    """An action line; its `ETag` is its version, to send back as `If-Match` when changing it."""
    async with read_only(request) as session:
        line = await handlers.get_action_line(session, line_id)
    response.headers["ETag"] = etag(line.version)
    return ActionLineRead.model_validate(line)


@router.patch(
    "/action-lines/{line_id}",
    response_model=ActionLineRead,
    responses=_CONFLICT | _NOT_FOUND | _PRECONDITIONS,
)
async def update_action_line(
    line_id: uuid.UUID,
    body: ActionLineUpdate,
    request: Request,
    response: Response,
    principal: Secretariat,
    if_match: IfMatch = None,
) -> ActionLineRead:
    """Change an action line's descriptive fields (not its status), with the expected version."""
    expected = _expected_version(body.expected_version, if_match)
    fields = body.model_copy(update={"expected_version": None})
    try:
        async with unit_of_work(request) as session:
            line = await handlers.update_action_line(session, line_id, fields, expected)
    except domain.StaleVersion as exc:
        raise _stale(exc, if_match) from exc
    response.headers["ETag"] = etag(line.version)
    return ActionLineRead.model_validate(line)


@router.patch(
    "/action-lines/{line_id}/status",
    response_model=ActionLineRead,
    responses=_CONFLICT
    | _NOT_FOUND
    | {
        412: {
            "model": ProblemDetail,
            "description": "`If-Match` names a version that is not current",
        },
        428: {
            "model": ProblemDetail,
            "description": "Neither `If-Match` nor `expected_version` was sent",
        },
    },
)
async def change_status(
    line_id: uuid.UUID,
    body: StatusChangeRequest,
    request: Request,
    response: Response,
    principal: Secretariat,
    if_match: Annotated[
        str | None, Header(description='The ETag of the version being changed, e.g. "3"')
    ] = None,
) -> ActionLineRead:
    """Change an action line's status. The change, its journal entry and its event commit
    together. A forbidden transition is a 409 listing the allowed ones; a stale version is
    a 409 (`expected_version`) or a 412 (`If-Match`), and changes nothing."""
    expected = _expected_version(body.expected_version, if_match)
    command = handlers.ChangeActionLineStatus(
        action_line_id=line_id,
        status=body.status,
        expected_version=expected,
        effective_date=body.effective_date or datetime.now(UTC).date(),
        actor=principal.subject,
        note=body.note,
    )
    try:
        async with unit_of_work(request) as session:
            line = await handlers.change_action_line_status(session, command)
    except domain.StaleVersion as exc:
        raise _stale(exc, if_match) from exc
    except domain.ForbiddenTransition as exc:
        raise Conflict(str(exc), allowed=exc.allowed) from exc
    response.headers["ETag"] = etag(line.version)
    return ActionLineRead.model_validate(line)


def _stale(exc: domain.StaleVersion, if_match: str | None) -> Problem:
    problem = PreconditionFailed if if_match is not None else Conflict
    return problem(str(exc), headers={"ETag": etag(exc.current)})


def _expected_version(in_body: int | None, if_match: str | None) -> int:
    from_header = parse_if_match(if_match) if if_match is not None else None
    if from_header is not None and in_body is not None and from_header != in_body:
        message = "If-Match and expected_version disagree"
        raise Conflict(message, errors=[FieldError(field="body.expected_version", message=message)])
    expected = from_header if from_header is not None else in_body
    if expected is None:
        raise PreconditionRequired(
            "send the version being changed, as If-Match or expected_version",
            errors=[FieldError(field="body.expected_version", message="required without If-Match")],
        )
    return expected

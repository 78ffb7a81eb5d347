"""HTTP routes of the plans service: plans, sections, action lines and the status journal.

Each route parses the request, builds a command, calls its handler inside the unit of work
and answers with a view. The handlers' refusals become problems in ``shared.problems``;
what stays here is HTTP's own: the version a change is based on, from ``If-Match`` or the
body, and the ETag of what is answered.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from services.plans import handlers, views
from services.plans.domain import LineStatus, PlanStatus, Source
from services.plans.schemas import (
    CONFLICT,
    NOT_FOUND,
    PRECONDITIONS,
    ActionLineCreate,
    ActionLineRead,
    ActionLineUpdate,
    EffectiveDateCorrection,
    HistoryQuery,
    JournalEntryRead,
    PlanApprove,
    PlanCreate,
    PlanRead,
    PlanSubmit,
    SectionCreate,
    SectionRead,
    StatusChangeRequest,
)
from shared.auth import AnyPrincipal, Principal, Secretariat
from shared.http import IfMatch, parse_if_match, read_only, statements_only, unit_of_work
from shared.pagination import Cursor, Limit, Page
from shared.problems import Conflict, FieldError, PreconditionRequired, etag
from shared.schemas import MAX_BIGINT

router = APIRouter(tags=["plans"])
journal_router = APIRouter(tags=["journal"])


@router.post(
    "/plans", status_code=status.HTTP_201_CREATED, response_model=PlanRead, responses=CONFLICT
)
async def create_plan(body: PlanCreate, request: Request, principal: Secretariat) -> PlanRead:
    """Create a plan of action, in the draft state."""
    async with unit_of_work(request) as session:
        plan = await handlers.create_plan(session, handlers.CreatePlan(**body.model_dump()))
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
    async with read_only(request) as session:
        return await views.plans(session, status_, limit, cursor)


@router.get("/plans/{plan_id}", response_model=PlanRead, responses=NOT_FOUND)
async def read_plan(plan_id: uuid.UUID, request: Request, principal: AnyPrincipal) -> PlanRead:
    """A plan of action."""
    async with read_only(request) as session:
        return await views.plan(session, plan_id)


@router.get("/plans/by-code/{plan_code}", response_model=PlanRead, responses=NOT_FOUND)
async def read_plan_by_code(
    plan_code: Annotated[str, Path(max_length=100, examples=["ASEAN-UN-POA-2016-2020"])],
    request: Request,
    principal: AnyPrincipal,
) -> PlanRead:
    """A plan of action by its code (codes are unique)."""
    async with read_only(request) as session:
        return await views.plan_by_code(session, plan_code)


@router.post("/plans/{plan_id}/submit", response_model=PlanRead, responses=CONFLICT | NOT_FOUND)
async def submit_plan(
    plan_id: uuid.UUID, body: PlanSubmit, request: Request, principal: Secretariat
) -> PlanRead:
    """Submit a draft plan for approval, optionally to a named future meeting."""
    command = handlers.ChangePlanStatus(
        plan_id=plan_id,
        status=PlanStatus.SUBMITTED,
        source=_caller(principal),
        submitted_to_meeting_id=body.submitted_to_meeting_id,
    )
    return await _move_plan(request, command)


@router.post("/plans/{plan_id}/approve", response_model=PlanRead, responses=CONFLICT | NOT_FOUND)
async def approve_plan(
    plan_id: uuid.UUID, body: PlanApprove, request: Request, principal: Secretariat
) -> PlanRead:
    """Approve a submitted plan. With a predecessor, its unfinished lines (neither completed nor
    discontinued) are carried over, each keeping a link to the line it continues.
    A meeting's approval decision does the same through the meetings service's events."""
    command = handlers.ChangePlanStatus(
        plan_id=plan_id,
        status=PlanStatus.APPROVED,
        source=_caller(principal),
        carry_over_unfinished=body.carry_over_unfinished,
    )
    return await _move_plan(request, command)


@router.post("/plans/{plan_id}/activate", response_model=PlanRead, responses=CONFLICT | NOT_FOUND)
async def activate_plan(plan_id: uuid.UUID, request: Request, principal: Secretariat) -> PlanRead:
    """Make an approved plan the active one; its predecessor becomes superseded."""
    command = handlers.ChangePlanStatus(
        plan_id=plan_id, status=PlanStatus.ACTIVE, source=_caller(principal)
    )
    return await _move_plan(request, command)


@router.post("/plans/{plan_id}/complete", response_model=PlanRead, responses=CONFLICT | NOT_FOUND)
async def complete_plan(plan_id: uuid.UUID, request: Request, principal: Secretariat) -> PlanRead:
    """Close an active plan as completed."""
    command = handlers.ChangePlanStatus(
        plan_id=plan_id, status=PlanStatus.COMPLETED, source=_caller(principal)
    )
    return await _move_plan(request, command)


def _caller(principal: Principal) -> Source:
    return Source.api(principal.subject)


async def _move_plan(request: Request, command: handlers.ChangePlanStatus) -> PlanRead:
    async with unit_of_work(request) as session:
        plan = await handlers.change_plan_status(session, command)
    return PlanRead.model_validate(plan)


@router.get("/plans/{plan_id}/sections", response_model=list[SectionRead], responses=NOT_FOUND)
async def list_sections(
    plan_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> list[SectionRead]:
    """Every section of the plan, parents before children, siblings by ordering key."""
    async with read_only(request) as session:
        return await views.sections(session, plan_id)


@router.get(
    "/plans/{plan_id}/action-lines", response_model=Page[ActionLineRead], responses=NOT_FOUND
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
    async with read_only(request) as session:
        return await views.action_lines(
            session,
            plan_id,
            section_id=section_id,
            tag=tag,
            status=status_,
            limit=limit,
            cursor=cursor,
        )


@router.post(
    "/plans/{plan_id}/sections",
    status_code=status.HTTP_201_CREATED,
    response_model=SectionRead,
    responses=CONFLICT | NOT_FOUND,
)
async def add_section(
    plan_id: uuid.UUID, body: SectionCreate, request: Request, principal: Secretariat
) -> SectionRead:
    """Add a section (a pillar, an area, a sub-area...) under the plan or under another section."""
    command = handlers.AddSection(plan_id=plan_id, **body.model_dump())
    async with unit_of_work(request) as session:
        section = await handlers.add_section(session, command)
    return SectionRead.model_validate(section)


@router.post(
    "/plans/{plan_id}/action-lines",
    status_code=status.HTTP_201_CREATED,
    response_model=ActionLineRead,
    responses=CONFLICT | NOT_FOUND,
)
async def add_action_line(
    plan_id: uuid.UUID,
    body: ActionLineCreate,
    request: Request,
    response: Response,
    principal: Secretariat,
) -> ActionLineRead:
    """Add an action line to the plan; it starts as `not_started`, at version 1."""
    command = handlers.AddActionLine(plan_id=plan_id, **body.model_dump())
    async with unit_of_work(request) as session:
        line = await handlers.add_action_line(session, command)
    response.headers["ETag"] = etag(line.version)
    return ActionLineRead.model_validate(line)


@router.get("/action-lines/{line_id}", response_model=ActionLineRead, responses=NOT_FOUND)
async def read_action_line(
    line_id: uuid.UUID, request: Request, response: Response, principal: AnyPrincipal
) -> ActionLineRead:
    """An action line; its `ETag` is its version, to send back as `If-Match` when changing it."""
    async with read_only(request) as session:
        line = await views.action_line(session, line_id)
    response.headers["ETag"] = etag(line.version)
    return line


@router.patch(
    "/action-lines/{line_id}",
    response_model=ActionLineRead,
    responses=CONFLICT | NOT_FOUND | PRECONDITIONS,
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
    command = handlers.UpdateActionLine(
        action_line_id=line_id,
        expected_version=_expected_version(body.expected_version, if_match),
        **body.model_dump(exclude_unset=True, exclude={"expected_version"}),
    )
    async with unit_of_work(request) as session:
        line = await handlers.update_action_line(session, command)
    response.headers["ETag"] = etag(line.version)
    return ActionLineRead.model_validate(line)


@router.patch(
    "/action-lines/{line_id}/status",
    response_model=ActionLineRead,
    responses=CONFLICT | NOT_FOUND | PRECONDITIONS,
)
async def change_status(
    line_id: uuid.UUID,
    body: StatusChangeRequest,
    request: Request,
    response: Response,
    principal: Secretariat,
    if_match: IfMatch = None,
) -> ActionLineRead:
    """Change an action line's status. The change, its journal entry and its event commit
    together. A forbidden transition is a 409 listing the allowed ones; a stale version is
    a 409 (`expected_version`) or a 412 (`If-Match`), and changes nothing."""
    command = handlers.ChangeActionLineStatus(
        action_line_id=line_id,
        status=body.status,
        expected_version=_expected_version(body.expected_version, if_match),
        effective_date=body.effective_date,
        actor=principal.subject,
        # Who changed it is the actor; the source only says it came through the API.
        source=Source.api(),
        note=body.note,
    )
    async with statements_only(request) as work:
        line = await handlers.change_action_line_status(work, command)
    response.headers["ETag"] = etag(line["version"])
    return ActionLineRead.model_validate(line)


@journal_router.post(
    "/action-lines/{line_id}/history/{entry_id}/corrections",
    response_model=JournalEntryRead,
    responses=CONFLICT | NOT_FOUND | PRECONDITIONS,
)
async def correct_effective_date(
    line_id: uuid.UUID,
    entry_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)],
    body: EffectiveDateCorrection,
    request: Request,
    response: Response,
    principal: Secretariat,
    if_match: IfMatch = None,
) -> JournalEntryRead:
    """Correct history: a recorded change of the line took effect on another date. The
    date stays between the changes recorded before and after it; the correction is kept
    with its reason, bumps the line's version (the new `ETag`) and publishes
    `action_line.history_corrected`, so the rollups and everyone following the line see it."""
    command = handlers.CorrectEffectiveDate(
        action_line_id=line_id,
        journal_entry_id=entry_id,
        effective_date=body.effective_date,
        expected_version=_expected_version(body.expected_version, if_match),
        actor=principal.subject,
        reason=body.reason,
    )
    async with unit_of_work(request) as session:
        line, entry = await handlers.correct_effective_date(session, command)
    response.headers["ETag"] = etag(line.version)
    return JournalEntryRead.model_validate(entry)


def _expected_version(in_body: int | None, if_match: str | None) -> int:
    """The version the change is based on, sent as ``If-Match`` or in the body (both: they
    must agree). Whether it is still current is the handler's business."""
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


@journal_router.get(
    "/action-lines/{line_id}/history", response_model=Page[JournalEntryRead], responses=NOT_FOUND
)
async def line_history(
    line_id: uuid.UUID,
    request: Request,
    principal: AnyPrincipal,
    query: Annotated[HistoryQuery, Depends()],
) -> Page[JournalEntryRead]:
    """Status changes of one action line, newest first, optionally within a range of
    effective dates (both ends included)."""
    async with read_only(request) as session:
        return await views.line_history(session, line_id, query)


@journal_router.get(
    "/plans/{plan_id}/history", response_model=Page[JournalEntryRead], responses=NOT_FOUND
)
async def plan_history(
    plan_id: uuid.UUID,
    request: Request,
    principal: AnyPrincipal,
    query: Annotated[HistoryQuery, Depends()],
) -> Page[JournalEntryRead]:
    """Status changes of every line of a plan, newest first."""
    async with read_only(request) as session:
        return await views.plan_history(session, plan_id, query)

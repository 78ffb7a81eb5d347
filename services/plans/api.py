"""HTTP routes of the plans service: parse, build a command, call the handler, answer."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response, status

from services.plans import domain, handlers
from services.plans.schemas import (
    ActionLineCreate,
    ActionLineRead,
    PlanCreate,
    PlanRead,
    SectionCreate,
    SectionRead,
    StatusChangeRequest,
)
from shared.auth import AnyPrincipal, Secretariat
from shared.http import etag, parse_if_match, read_only, unit_of_work
from shared.problems import (
    Conflict,
    FieldError,
    PreconditionFailed,
    PreconditionRequired,
    ProblemDetail,
)

router = APIRouter(tags=["plans"])

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ProblemDetail,
        "description": "Duplicate code, stale version or forbidden transition",
    }
}
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


@router.get("/plans/{plan_id}", response_model=PlanRead, responses=_NOT_FOUND)
async def read_plan(plan_id: uuid.UUID, request: Request, principal: AnyPrincipal) -> PlanRead:
    """A plan of action."""
    async with read_only(request) as session:
        return PlanRead.model_validate(await handlers.get_plan(session, plan_id))


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
    expected = _expected_version(body, if_match)
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
        problem = PreconditionFailed if if_match is not None else Conflict
        raise problem(str(exc), headers={"ETag": etag(exc.current)}) from exc
    except domain.ForbiddenTransition as exc:
        raise Conflict(str(exc), allowed=exc.allowed) from exc
    response.headers["ETag"] = etag(line.version)
    return ActionLineRead.model_validate(line)


def _expected_version(body: StatusChangeRequest, if_match: str | None) -> int:
    from_header = parse_if_match(if_match) if if_match is not None else None
    if (
        from_header is not None
        and body.expected_version is not None
        and from_header != body.expected_version
    ):
        message = "If-Match and expected_version disagree"
        raise Conflict(message, errors=[FieldError(field="body.expected_version", message=message)])
    expected = from_header if from_header is not None else body.expected_version
    if expected is None:
        raise PreconditionRequired(
            "send the version being changed, as If-Match or expected_version",
            errors=[FieldError(field="body.expected_version", message="required without If-Match")],
        )
    return expected

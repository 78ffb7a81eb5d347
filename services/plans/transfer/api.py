"""Routes of import and export: whole plans as JSON, a plan's lines as CSV.

Reading the document is the route's part: each item is validated on its own and every
problem is gathered, so that the answer names them all (a 422 listing each with where it
is) and nothing is imported if there is any.
"""

import uuid
from typing import TypeVar

from fastapi import APIRouter, Request, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ValidationError

from services.plans.handlers import CreatePlan
from services.plans.schemas import NOT_FOUND, PlanCreate, PlanRead
from services.plans.transfer import handlers, views
from services.plans.transfer.documents import (
    CSV_COLUMNS,
    Fault,
    LineDocument,
    PlanDocument,
    Problems,
    SectionDocument,
    check_structure,
    parse_csv,
    to_csv,
)
from services.plans.transfer.schemas import ImportResult, PlanImport
from shared.auth import AnyPrincipal, Secretariat
from shared.http import read_only, unit_of_work
from shared.problems import FieldError, Unprocessable, documented

router = APIRouter(tags=["import and export"])

M = TypeVar("M", bound=BaseModel)

# A 100,000-line plan is about 20 MB of JSON; everything else keeps the service-wide limit.
IMPORT_BODY_LIMIT = 32 * 1024 * 1024
_INVALID = documented(422, "Every problem found, each with where it is")


@router.post(
    "/plans/import",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportResult,
    responses=_INVALID | NOT_FOUND,
    max_body_size=IMPORT_BODY_LIMIT,
)
async def import_plan(body: PlanImport, request: Request, principal: Secretariat) -> ImportResult:
    """Create a plan with its sections and action lines from one JSON document, the shape
    `GET /plans/{plan_id}/export` produces. Nothing is imported if anything is wrong."""
    problems = Problems([])
    plan = _validated(PlanCreate, body.plan, "plan", problems)
    sections = [
        _validated(SectionDocument, s, f"sections[{i}]", problems)
        for i, s in enumerate(body.sections)
    ]
    lines = [
        _validated(LineDocument, line, f"action_lines[{i}]", problems)
        for i, line in enumerate(body.action_lines)
    ]
    good_sections = [s for s in sections if s is not None]
    check_structure(
        good_sections,
        [(f"action_lines[{i}]", line) for i, line in enumerate(lines) if line is not None],
        problems,
    )
    _refuse_if_any(problems.items)
    assert plan is not None
    command = handlers.ImportPlan(
        plan=CreatePlan(**plan.model_dump()),
        sections=good_sections,
        lines=[line for line in lines if line is not None],
        actor=principal.subject,
    )
    async with unit_of_work(request) as session:
        imported = await handlers.import_plan(session, command)
    return _result(imported)


@router.post(
    "/plans/{plan_id}/action-lines/import",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportResult,
    responses=_INVALID | NOT_FOUND,
    max_body_size=IMPORT_BODY_LIMIT,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_lines_csv(
    plan_id: uuid.UUID,
    request: Request,
    principal: Secretariat,
) -> ImportResult:
    """Add action lines to a plan from CSV (`text/csv`, UTF-8, a header line naming the
    columns `code, section_code, text, leads, tags, target_date, weight, ordering_key,
    status, status_date`; `code` and `text` are required; leads and tags are separated by
    `;`). Every problem is reported with its line number; nothing is imported if any."""
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unprocessable("the CSV is not UTF-8") from exc
    problems = Problems([])
    parsed = parse_csv(text, problems)
    command = handlers.ImportLines(
        plan_id=plan_id,
        lines=[(f"csv.line {n}", line) for n, line in parsed],
        actor=principal.subject,
        faults=problems.items,
    )
    async with unit_of_work(request) as session:
        imported = await handlers.import_lines(session, command)
        _refuse_if_any(imported.faults)
    return _result(imported)


@router.get("/plans/{plan_id}/export", response_model=PlanDocument, responses=NOT_FOUND)
async def export_plan(
    plan_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> PlanDocument:
    """The whole plan as one JSON document, which `POST /plans/import` takes back."""
    async with read_only(request) as session:
        return await views.plan_document(session, plan_id)


@router.get(
    "/plans/{plan_id}/action-lines.csv",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/csv": {"example": ",".join(CSV_COLUMNS) + "\n"}}},
        **NOT_FOUND,
    },
)
async def export_lines_csv(
    plan_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> PlainTextResponse:
    """The plan's action lines as CSV, in the columns the CSV import takes."""
    async with read_only(request) as session:
        document = await views.plan_document(session, plan_id)
    return PlainTextResponse(to_csv(document.action_lines), media_type="text/csv; charset=utf-8")


def _validated(model: type[M], raw: object, where: str, problems: Problems) -> M | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            problems.add(f"{where}.{field}" if field else where, error["msg"])
        return None


def _refuse_if_any(faults: list[Fault]) -> None:
    if faults:
        raise Unprocessable(
            f"the document has {len(faults)} problem(s); nothing was imported",
            errors=[FieldError(field=f.field, message=f.message) for f in faults],
        )


def _result(imported: handlers.Imported) -> ImportResult:
    return ImportResult(
        plan=PlanRead.model_validate(imported.plan),
        sections_imported=imported.sections,
        action_lines_imported=imported.lines,
    )

"""Import and export of whole plans (JSON) and of a plan's lines (CSV)."""

import uuid
from typing import Any, TypeVar

from fastapi import APIRouter, Request, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import handlers, importing, orm
from services.plans.schemas import PlanCreate, PlanRead
from services.plans.transfer import (
    CSV_COLUMNS,
    LineDocument,
    PlanDocument,
    Problems,
    SectionDocument,
    check_structure,
    parse_csv,
    to_csv,
)
from shared.auth import AnyPrincipal, Secretariat
from shared.http import read_only, unit_of_work
from shared.problems import ProblemDetail, Unprocessable

router = APIRouter(tags=["import and export"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ProblemDetail, "description": "No such plan, action line or counting rule"}
}
M = TypeVar("M", bound=BaseModel)

# A 100,000-line plan is about 20 MB of JSON; everything else keeps the service-wide limit.
IMPORT_BODY_LIMIT = 32 * 1024 * 1024
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ProblemDetail, "description": "Every problem found, each with where it is"}
}


class ImportResult(BaseModel):
    plan: PlanRead
    sections_imported: int
    action_lines_imported: int


class PlanImport(BaseModel):
    """A plan document (see `PlanDocument` in the export). Items are checked one by one, so
    that every problem of the document is reported at once, each with its index."""

    plan: dict[str, Any]
    sections: list[dict[str, Any]] = Field(default_factory=list)
    action_lines: list[dict[str, Any]] = Field(default_factory=list)


@router.post(
    "/plans/import",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportResult,
    responses=_INVALID | _NOT_FOUND,
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
    _refuse_if_any(problems)
    assert plan is not None
    async with unit_of_work(request) as session:
        created = await handlers.create_plan(session, plan)
        count = await importing.import_into(
            session,
            created,
            good_sections,
            [line for line in lines if line is not None],
            actor=principal.subject,
        )
    return ImportResult(
        plan=PlanRead.model_validate(created),
        sections_imported=len(sections),
        action_lines_imported=count,
    )


@router.post(
    "/plans/{plan_id}/action-lines/import",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportResult,
    responses=_INVALID | _NOT_FOUND,
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
    async with unit_of_work(request) as session:
        plan = await handlers.get_plan(session, plan_id, lock=True)
        known_sections = set(
            await session.scalars(select(orm.Section.code).where(orm.Section.plan_id == plan_id))
        )
        known_lines = set(
            await session.scalars(
                select(orm.ActionLine.code).where(orm.ActionLine.plan_id == plan_id)
            )
        )
        check_structure(
            [],
            [(f"csv.line {n}", line) for n, line in parsed],
            problems,
            known_sections=known_sections,
            known_lines=known_lines,
        )
        _refuse_if_any(problems)
        count = await importing.import_into(
            session, plan, [], [line for _, line in parsed], actor=principal.subject
        )
    return ImportResult(
        plan=PlanRead.model_validate(plan), sections_imported=0, action_lines_imported=count
    )


@router.get("/plans/{plan_id}/export", response_model=PlanDocument, responses=_NOT_FOUND)
async def export_plan(
    plan_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> PlanDocument:
    """The whole plan as one JSON document, which `POST /plans/import` takes back."""
    async with read_only(request) as session:
        return await _document(session, plan_id)


@router.get(
    "/plans/{plan_id}/action-lines.csv",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/csv": {"example": ",".join(CSV_COLUMNS) + "\n"}}},
        **_NOT_FOUND,
    },
)
async def export_lines_csv(
    plan_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> PlainTextResponse:
    """The plan's action lines as CSV, in the columns the CSV import takes."""
    async with read_only(request) as session:
        document = await _document(session, plan_id)
    return PlainTextResponse(to_csv(document.action_lines), media_type="text/csv; charset=utf-8")


async def _document(session: AsyncSession, plan_id: uuid.UUID) -> PlanDocument:
    plan = await handlers.get_plan(session, plan_id)
    sections = list(
        await session.scalars(select(orm.Section).where(orm.Section.plan_id == plan_id))
    )
    codes = {s.id: s.code for s in sections}
    last_change = (
        select(
            orm.JournalEntry.action_line_id, func.max(orm.JournalEntry.effective_date).label("on")
        )
        .where(orm.JournalEntry.plan_id == plan_id)
        .group_by(orm.JournalEntry.action_line_id)
        .subquery()
    )
    rows = await session.execute(
        select(orm.ActionLine, last_change.c.on)
        .outerjoin(last_change, last_change.c.action_line_id == orm.ActionLine.id)
        .where(orm.ActionLine.plan_id == plan_id)
        .order_by(orm.ActionLine.ordering_key, orm.ActionLine.code)
    )
    return PlanDocument(
        plan=PlanCreate(
            code=plan.code,
            title=plan.title,
            partners=plan.partners,
            period_start=plan.period_start,
            period_end=plan.period_end,
        ),
        sections=[
            SectionDocument(
                code=s.code,
                title=s.title,
                parent_code=codes.get(s.parent_id) if s.parent_id else None,
                ordering_key=s.ordering_key,
            )
            for s in sorted(sections, key=lambda s: len(s.path))
        ],
        action_lines=[
            LineDocument(
                code=line.code,
                section_code=codes.get(line.section_id) if line.section_id else None,
                text=line.text,
                leads=line.leads,
                tags=line.tags,
                target_date=line.target_date,
                weight=line.weight,
                ordering_key=line.ordering_key,
                status=line.status,
                status_date=on,
            )
            for line, on in rows
        ],
    )


def _validated(model: type[M], raw: object, where: str, problems: Problems) -> M | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            problems.add(f"{where}.{field}" if field else where, error["msg"])
        return None


def _refuse_if_any(problems: Problems) -> None:
    if problems.items:
        raise Unprocessable(
            f"the document has {len(problems.items)} problem(s); nothing was imported",
            errors=problems.items,
        )

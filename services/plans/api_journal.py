"""The status journal: every change of every line, per line and per plan."""

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import handlers, orm
from services.plans.schemas import JournalEntryRead
from shared.auth import AnyPrincipal
from shared.http import read_only
from shared.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor, page_of
from shared.problems import FieldError, ProblemDetail, Unprocessable

router = APIRouter(tags=["journal"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ProblemDetail, "description": "No such plan, action line or counting rule"}
}


@router.get(
    "/action-lines/{line_id}/history",
    response_model=Page[JournalEntryRead],
    responses=_NOT_FOUND,
)
async def line_history(
    line_id: uuid.UUID,
    request: Request,
    principal: AnyPrincipal,
    effective_from: date | None = None,
    effective_to: date | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[JournalEntryRead]:
    """Status changes of one action line, newest first, optionally within a range of
    effective dates (both ends included)."""
    async with read_only(request) as session:
        await handlers.get_action_line(session, line_id)
        query = select(orm.JournalEntry).where(orm.JournalEntry.action_line_id == line_id)
        return await _page(session, query, effective_from, effective_to, limit, cursor)


@router.get("/plans/{plan_id}/history", response_model=Page[JournalEntryRead], responses=_NOT_FOUND)
async def plan_history(
    plan_id: uuid.UUID,
    request: Request,
    principal: AnyPrincipal,
    effective_from: date | None = None,
    effective_to: date | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[JournalEntryRead]:
    """Status changes of every line of a plan, newest first."""
    async with read_only(request) as session:
        await handlers.get_plan(session, plan_id)
        query = select(orm.JournalEntry).where(orm.JournalEntry.plan_id == plan_id)
        return await _page(session, query, effective_from, effective_to, limit, cursor)


async def _page(
    session: AsyncSession,
    query: Select[orm.JournalEntry],
    effective_from: date | None,
    effective_to: date | None,
    limit: int,
    cursor: str | None,
) -> Page[JournalEntryRead]:
    if effective_from and effective_to and effective_to < effective_from:
        message = "effective_to is before effective_from"
        raise Unprocessable(
            message, errors=[FieldError(field="query.effective_to", message=message)]
        )
    if effective_from is not None:
        query = query.where(orm.JournalEntry.effective_date >= effective_from)
    if effective_to is not None:
        query = query.where(orm.JournalEntry.effective_date <= effective_to)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(orm.JournalEntry.id < after)
    rows = list(
        (await session.scalars(query.order_by(orm.JournalEntry.id.desc()).limit(limit + 1))).all()
    )
    items, next_cursor = page_of(rows, limit, lambda row: encode_cursor(row.id))
    return Page[JournalEntryRead](
        items=[JournalEntryRead.model_validate(r) for r in items], next_cursor=next_cursor
    )

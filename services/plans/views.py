"""What the plans API reads: plans, sections, action lines and the status journal.

Each function takes a session and returns the response schema (or a page of them); routes
never query the tables themselves. An unknown plan or line is the domain's ``NotFound``;
a forged cursor or an inverted date range is the caller's fault, a problem of the request.
"""

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import orm
from services.plans.domain import LineStatus, PlanStatus
from services.plans.schemas import (
    ActionLineRead,
    HistoryQuery,
    JournalEntryRead,
    PlanRead,
    SectionRead,
)
from shared.errors import NotFound
from shared.pagination import (
    Page,
    decode_cursor,
    decode_key_cursor,
    encode_cursor,
    encode_key_cursor,
    page_of,
)
from shared.problems import FieldError, Unprocessable

P = TypeVar("P", bound=Page[Any])


async def plans(
    session: AsyncSession, status: PlanStatus | None, limit: int, cursor: str | None
) -> Page[PlanRead]:
    """Plans of action, by code."""
    query = select(orm.Plan).order_by(orm.Plan.code)
    if status is not None:
        query = query.where(orm.Plan.status == status.value)
    after = decode_key_cursor(cursor, 1)
    if after is not None:
        query = query.where(orm.Plan.code > str(after[0]))
    return await _page(session, query, limit, lambda p: encode_key_cursor(p.code), Page[PlanRead])


async def plan(session: AsyncSession, plan_id: uuid.UUID) -> PlanRead:
    return PlanRead.model_validate(await require_plan(session, plan_id))


async def plan_by_code(session: AsyncSession, code: str) -> PlanRead:
    """Plan codes are unique: a client that knows a plan by its code needs no search."""
    row = await session.scalar(select(orm.Plan).where(orm.Plan.code == code))
    if row is None:
        raise NotFound("plan", code)
    return PlanRead.model_validate(row)


async def require_plan(session: AsyncSession, plan_id: uuid.UUID) -> orm.Plan:
    """The plan a read is about; a 404 when there is none."""
    row = await session.get(orm.Plan, plan_id)
    if row is None:
        raise NotFound("plan", plan_id)
    return row


async def sections(session: AsyncSession, plan_id: uuid.UUID) -> list[SectionRead]:
    """Every section of the plan, parents before children, siblings by ordering key."""
    await require_plan(session, plan_id)
    rows = list(
        (await session.scalars(select(orm.Section).where(orm.Section.plan_id == plan_id))).all()
    )
    by_id = {s.id: s for s in rows}
    rows.sort(key=lambda s: [by_id[p].ordering_key if p in by_id else "" for p in s.path])
    return [SectionRead.model_validate(s) for s in rows]


async def action_lines(
    session: AsyncSession,
    plan_id: uuid.UUID,
    *,
    section_id: uuid.UUID | None,
    tag: str | None,
    status: LineStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[ActionLineRead]:
    """The plan's action lines by ordering key, filtered by section subtree, tag or status."""
    query = select(orm.ActionLine).where(orm.ActionLine.plan_id == plan_id)
    if section_id is not None:
        subtree = select(orm.Section.id).where(orm.Section.path.contains([section_id]))
        query = query.where(orm.ActionLine.section_id.in_(subtree))
    if tag is not None:
        query = query.where(orm.ActionLine.tags.contains([tag]))
    if status is not None:
        query = query.where(orm.ActionLine.status == status.value)
    after = decode_key_cursor(cursor, 2)
    if after is not None:
        query = query.where(
            tuple_(orm.ActionLine.ordering_key, orm.ActionLine.code) > tuple_(*map(str, after))
        )
    query = query.order_by(orm.ActionLine.ordering_key, orm.ActionLine.code)
    await require_plan(session, plan_id)
    return await _page(
        session,
        query,
        limit,
        lambda line: encode_key_cursor(line.ordering_key, line.code),
        Page[ActionLineRead],
    )


async def action_line(session: AsyncSession, line_id: uuid.UUID) -> ActionLineRead:
    return ActionLineRead.model_validate(await _require_line(session, line_id))


async def _require_line(session: AsyncSession, line_id: uuid.UUID) -> orm.ActionLine:
    row = await session.get(orm.ActionLine, line_id)
    if row is None:
        raise NotFound("action line", line_id)
    return row


async def line_history(
    session: AsyncSession, line_id: uuid.UUID, window: HistoryQuery
) -> Page[JournalEntryRead]:
    """Status changes of one action line, newest first."""
    await _require_line(session, line_id)
    query = select(orm.JournalEntry).where(orm.JournalEntry.action_line_id == line_id)
    return await _journal(session, query, window)


async def plan_history(
    session: AsyncSession, plan_id: uuid.UUID, window: HistoryQuery
) -> Page[JournalEntryRead]:
    """Status changes of every line of a plan, newest first."""
    await require_plan(session, plan_id)
    query = select(orm.JournalEntry).where(orm.JournalEntry.plan_id == plan_id)
    return await _journal(session, query, window)


async def _journal(
    session: AsyncSession, query: Select[orm.JournalEntry], window: HistoryQuery
) -> Page[JournalEntryRead]:
    """A page of journal entries, newest first, within a range of effective dates (both
    ends included)."""
    effective_from, effective_to = window.effective_from, window.effective_to
    if effective_from and effective_to and effective_to < effective_from:
        message = "effective_to is before effective_from"
        raise Unprocessable(
            message, errors=[FieldError(field="query.effective_to", message=message)]
        )
    if effective_from is not None:
        query = query.where(orm.JournalEntry.effective_date >= effective_from)
    if effective_to is not None:
        query = query.where(orm.JournalEntry.effective_date <= effective_to)
    after = decode_cursor(window.cursor)
    if after is not None:
        query = query.where(orm.JournalEntry.id < after)
    query = query.order_by(orm.JournalEntry.id.desc())
    return await _page(
        session, query, window.limit, lambda row: encode_cursor(row.id), Page[JournalEntryRead]
    )


async def _page(
    session: AsyncSession,
    query: Select[Any],
    limit: int,
    cursor_of: Callable[[Any], str],
    page: type[P],
) -> P:
    """The page of ``query``'s rows, with the cursor of the next page if there is one."""
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    items, next_cursor = page_of(rows, limit, cursor_of)
    return page.model_validate({"items": items, "next_cursor": next_cursor}, from_attributes=True)

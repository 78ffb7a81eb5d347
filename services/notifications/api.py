"""HTTP routes of the notifications service."""

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from services.notifications import orm
from shared.auth import AnyPrincipal
from shared.http import read_only
from shared.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from shared.schemas import ResponseModel

router = APIRouter(tags=["activity"])


class ActivityRead(ResponseModel):
    event_id: str
    event_type: str
    plan_id: uuid.UUID
    subject: str | None
    data: dict[str, Any]
    occurred_at: datetime
    received_at: datetime


@router.get("/activity", response_model=Page[ActivityRead])
async def list_activity(
    request: Request,
    principal: AnyPrincipal,
    plan_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ActivityRead]:
    """Plans events this service has received, newest first."""
    query = select(orm.PlanActivity).order_by(orm.PlanActivity.id.desc()).limit(limit + 1)
    if plan_id is not None:
        query = query.where(orm.PlanActivity.plan_id == plan_id)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(orm.PlanActivity.id < after)
    async with read_only(request) as session:
        rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[ActivityRead](
        items=[ActivityRead.model_validate(r) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if more else None,
    )

"""Read models built from other services' events: the plan structure (for names and section
paths) and meetings (for digests timed to a meeting). Never a call into another service."""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from services.notifications.intake.domain import Consumed, LineEvent, PlanEvent
from shared.contracts import meetings, plans


async def apply(session: AsyncSession, event: Consumed) -> None:
    """Bring the read models up to date with one event (rollups and decisions change none)."""
    match event:
        case plans.PlanCreated():
            await _plan(session, event, event.status)
        case plans.PlanLifecycleChanged():
            await _plan(session, event, event.new_status)
        case plans.SectionCreated():
            await _upsert(
                session,
                orm.PlanNode,
                {
                    "id": event.section_id,
                    "kind": "section",
                    "plan_id": event.plan_id,
                    "code": event.code,
                    "name": event.title,
                    "section_path": event.path,
                    "tags": [],
                    "status": None,
                },
            )
        case plans.ActionLineCreated() | plans.ActionLineUpdated():
            await _line(session, event, event.status, text=event.text)
        case plans.ActionLineStatusChanged():
            await _line(session, event, event.new_status, text=None)
        case plans.ActionLineHistoryCorrected():
            await _line(session, event, event.line_status, text=None)
        case meetings.MeetingScheduled() | meetings.MeetingPostponed():
            await _upsert(
                session,
                orm.Meeting,
                {
                    "id": event.meeting_id,
                    "series": event.series,
                    "title": event.title,
                    "starts_at": event.starts_at,
                    "status": "scheduled",
                },
            )
        case meetings.MeetingStarted():
            await _meeting_status(session, event.meeting_id, "in_progress")
        case meetings.MeetingConcluded():
            await _meeting_status(session, event.meeting_id, "concluded")
        case meetings.MeetingCancelled():
            await _meeting_status(session, event.meeting_id, "cancelled")


async def names(session: AsyncSession, event: Consumed) -> dict[str, str]:
    """Human names of the plan, sections and line an event mentions."""
    ids: list[uuid.UUID] = []
    if isinstance(event, PlanEvent):
        ids.append(event.plan_id)
    if isinstance(event, LineEvent):
        ids.append(event.action_line_id)
        ids.extend(event.section_path)
    if not ids:
        return {}
    rows = await session.execute(
        select(orm.PlanNode.id, orm.PlanNode.name).where(orm.PlanNode.id.in_(ids))
    )
    return {str(i): name for i, name in rows.all()}


async def _upsert(session: AsyncSession, model: type[orm.Base], values: dict[str, Any]) -> None:
    update = {k: v for k, v in values.items() if k != "id"}
    statement = insert(model).values(**values)
    await session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=update))


async def _plan(
    session: AsyncSession, event: plans.PlanCreated | plans.PlanLifecycleChanged, status: str
) -> None:
    await _upsert(
        session,
        orm.PlanNode,
        {
            "id": event.plan_id,
            "kind": "plan",
            "plan_id": event.plan_id,
            "code": event.code,
            "name": event.title,
            "section_path": [],
            "tags": [],
            "status": status,
        },
    )


async def _line(session: AsyncSession, event: LineEvent, status: str, *, text: str | None) -> None:
    values = {
        "id": event.action_line_id,
        "kind": "action_line",
        "plan_id": event.plan_id,
        "code": event.code,
        "section_path": event.section_path,
        "tags": event.tags,
        "status": status,
    }
    statement = insert(orm.PlanNode).values(name=text or event.code, **values)
    # A status change carries no text: keep the name the line was created with.
    update = {k: v for k, v in values.items() if k != "id"}
    if text is not None:
        update["name"] = text
    await session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=update))


async def _meeting_status(session: AsyncSession, meeting_id: uuid.UUID, status: str) -> None:
    meeting = await session.get(orm.Meeting, meeting_id)
    if meeting is not None:
        meeting.status = status

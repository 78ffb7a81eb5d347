"""Read models built from other services' events: the plan structure (for names and section
paths) and meetings (for digests timed to a meeting). Never a call into another service."""

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from shared.contracts import meetings as meeting_events
from shared.contracts import plans as plan_events

Data = Mapping[str, Any]


async def _upsert(session: AsyncSession, model: type[orm.Base], values: dict[str, Any]) -> None:
    update = {k: v for k, v in values.items() if k != "id"}
    statement = insert(model).values(**values)
    await session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=update))


async def _plan(session: AsyncSession, data: Data) -> None:
    await _upsert(
        session,
        orm.PlanNode,
        {
            "id": data["plan_id"],
            "kind": "plan",
            "plan_id": data["plan_id"],
            "code": data["code"],
            "name": data["title"],
            "section_path": [],
            "tags": [],
            "status": data.get("new_status") or data.get("status"),
        },
    )


async def _section(session: AsyncSession, data: Data) -> None:
    await _upsert(
        session,
        orm.PlanNode,
        {
            "id": data["section_id"],
            "kind": "section",
            "plan_id": data["plan_id"],
            "code": data["code"],
            "name": data["title"],
            "section_path": data["path"],
            "tags": [],
            "status": None,
        },
    )


async def _line(session: AsyncSession, data: Data) -> None:
    values = {
        "id": data["action_line_id"],
        "kind": "action_line",
        "plan_id": data["plan_id"],
        "code": data["code"],
        "section_path": data["section_path"],
        "tags": data["tags"],
        "status": data.get("new_status") or data.get("status"),
    }
    statement = insert(orm.PlanNode).values(name=data.get("text") or data["code"], **values)
    # A status change carries no text: keep the name the line was created with.
    update = {k: v for k, v in values.items() if k != "id"}
    if "text" in data:
        update["name"] = data["text"]
    await session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=update))


async def _meeting(session: AsyncSession, data: Data) -> None:
    await _upsert(
        session,
        orm.Meeting,
        {
            "id": data["meeting_id"],
            "series": data["series"],
            "title": data["title"],
            "starts_at": data["starts_at"],
            "status": "scheduled",
        },
    )


def _meeting_status(status: str) -> Any:
    async def apply(session: AsyncSession, data: Data) -> None:
        meeting = await session.get(orm.Meeting, uuid.UUID(str(data["meeting_id"])))
        if meeting is not None:
            meeting.status = status

    return apply


_APPLY = {
    plan_events.PlanCreated.event_type: _plan,
    **{
        c.event_type: _plan
        for c in (
            plan_events.PlanSubmitted,
            plan_events.PlanApproved,
            plan_events.PlanActivated,
            plan_events.PlanCompleted,
            plan_events.PlanSuperseded,
        )
    },
    plan_events.SectionCreated.event_type: _section,
    plan_events.ActionLineCreated.event_type: _line,
    plan_events.ActionLineUpdated.event_type: _line,
    plan_events.ActionLineStatusChanged.event_type: _line,
    meeting_events.MeetingScheduled.event_type: _meeting,
    meeting_events.MeetingPostponed.event_type: _meeting,
    meeting_events.MeetingStarted.event_type: _meeting_status("in_progress"),
    meeting_events.MeetingConcluded.event_type: _meeting_status("concluded"),
    meeting_events.MeetingCancelled.event_type: _meeting_status("cancelled"),
}


async def apply(session: AsyncSession, event_type: str, data: Data) -> None:
    if (update := _APPLY.get(event_type)) is not None:
        await update(session, data)


async def names(session: AsyncSession, data: Data) -> dict[str, str]:
    """Human names of the plan, sections and line an event mentions."""
    ids: list[uuid.UUID] = []
    for key in ("plan_id", "action_line_id"):
        if data.get(key):
            ids.append(uuid.UUID(str(data[key])))
    ids.extend(uuid.UUID(str(s)) for s in data.get("section_path") or ())
    if not ids:
        return {}
    rows = await session.execute(
        select(orm.PlanNode.id, orm.PlanNode.name).where(orm.PlanNode.id.in_(ids))
    )
    return {str(i): name for i, name in rows.all()}

"""Read models built from other services' events: the plan structure (for names and section
paths), meetings (for digests timed to a meeting) and their co-chairs (who holds a meeting's
``co-chairs`` role). Never a call into another service."""

import functools
import uuid
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, Uuid, bindparam, delete, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from services.notifications.domain import CO_CHAIRS
from services.notifications.intake.domain import Consumed, LineEvent, PlanEvent
from shared.contracts import meetings, plans
from shared.db import is_any_of_parameter
from shared.prepared import Prepared


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
            values = {
                "id": event.meeting_id,
                "series": event.series,
                "title": event.title,
                "starts_at": event.starts_at,
                "timezone": event.timezone,
                "status": "scheduled",
            }
            if isinstance(event, meetings.MeetingScheduled):
                values["plans_under_review"] = event.plans_under_review
                await _co_chairs(session, event)
            await _upsert(session, orm.Meeting, values)
        case meetings.MeetingStarted():
            await _meeting_status(session, event.meeting_id, "in_progress")
        case meetings.MeetingConcluded():
            await _meeting_status(session, event.meeting_id, "concluded")
        case meetings.MeetingCancelled():
            await _meeting_status(session, event.meeting_id, "cancelled")


async def nodes_mentioned(session: AsyncSession, event: Consumed) -> dict[uuid.UUID, orm.PlanNode]:
    """The plan, sections and line an event mentions, as the read model has them: one read
    for the notice's names and its context."""
    ids: list[uuid.UUID] = []
    if isinstance(event, PlanEvent):
        ids.append(event.plan_id)
    if isinstance(event, LineEvent):
        ids.append(event.action_line_id)
        ids.extend(event.section_path)
    if isinstance(event, plans.RollupsChanged):
        sections = (c.scope_key for c in event.changes if c.scope_kind == "section")
        ids.extend(uuid.UUID(key) for key in sections if _is_uuid(key))
    if not ids:
        return {}
    found = await session.scalars(_NODES, {"ids": ids})
    return {node.id: node for node in found}


# Run for every event taken in, so built once (see ``is_any_of_parameter``).
_NODES = select(orm.PlanNode).where(is_any_of_parameter(orm.PlanNode.id, "ids"))


def _is_uuid(key: str) -> bool:
    try:
        uuid.UUID(key)
    except ValueError:
        return False
    return True


def names(nodes: dict[uuid.UUID, orm.PlanNode]) -> dict[str, str]:
    """Human names of the nodes, by id."""
    return {str(node_id): node.name for node_id, node in nodes.items()}


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
    """Upsert the line and move it in its plan's counts (``_line_statement``). A status
    change carries no text: the line keeps the name it was created with."""
    await _line_statement(renames=text is not None).execute(
        session,
        {
            "id": event.action_line_id,
            "plan_id": event.plan_id,
            "code": event.code,
            "name": text or event.code,
            "section_path": event.section_path,
            "tags": event.tags,
            "status": status,
        },
    )


@functools.cache
def _line_statement(*, renames: bool) -> Prepared:
    """One statement: ``before`` is the line's row from before the upsert (the statements of
    a WITH share one snapshot), so the counts follow the rows themselves and an event applied
    twice moves nothing. Built once per variant: it runs for every line event, and it was a
    third of the intake's CPU per status change in a profile of the latency benchmark, most
    of that spent building the construct anew."""
    # Core tables, not the mapped classes: executed with parameters, an ORM insert is a bulk
    # insert of those parameters.
    node, counted = cast(Table, orm.PlanNode.__table__), cast(Table, orm.PlanLineCount.__table__)
    line_id, plan_id = bindparam("id", type_=node.c.id.type), bindparam("plan_id", type_=Uuid)
    before = select(node.c.status).where(node.c.id == line_id).with_for_update().cte("before")
    upsert = insert(node).values(
        id=line_id,
        kind="action_line",
        plan_id=plan_id,
        code=bindparam("code"),
        name=bindparam("name"),
        section_path=bindparam("section_path"),
        tags=bindparam("tags"),
        status=bindparam("status"),
    )
    changed = ["kind", "plan_id", "code", "section_path", "tags", "status"]
    if renames:
        changed.append("name")
    line = (
        upsert.on_conflict_do_update(
            index_elements=["id"], set_={column: upsert.excluded[column] for column in changed}
        )
        .returning(node.c.status)
        .cte("line")
    )
    moved = union_all(
        select(before.c.status, literal(-1).label("lines")),
        select(line.c.status, literal(1).label("lines")),
    ).subquery("moved")
    net = func.sum(moved.c.lines)
    counts = insert(counted).from_select(
        ["plan_id", "status", "lines"],
        select(plan_id, moved.c.status, net).group_by(moved.c.status).having(net != 0),
    )
    return Prepared(
        counts.on_conflict_do_update(
            index_elements=["plan_id", "status"],
            set_={"lines": counted.c.lines + counts.excluded.lines},
        )
    )


async def _co_chairs(session: AsyncSession, event: meetings.MeetingScheduled) -> None:
    """A meeting's co-chairs hold its ``co-chairs`` role, for its events only, whatever their
    date (taken again from a redelivered event: replaced, not added)."""
    await session.execute(
        delete(orm.RoleAssignment).where(
            orm.RoleAssignment.role == CO_CHAIRS, orm.RoleAssignment.meeting_id == event.meeting_id
        )
    )
    session.add_all(
        orm.RoleAssignment(
            role=CO_CHAIRS,
            delegation_code=chair.delegation,
            valid_from=date.min,
            meeting_id=event.meeting_id,
        )
        for chair in event.co_chairs
    )


async def _meeting_status(session: AsyncSession, meeting_id: uuid.UUID, status: str) -> None:
    meeting = await session.get(orm.Meeting, meeting_id)
    if meeting is not None:
        meeting.status = status

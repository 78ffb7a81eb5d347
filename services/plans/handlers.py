"""One async function per command. Each runs inside the caller's unit of work (the route's
or the consumer's transaction): it changes state and stages the events in the outbox, and
the single commit makes both durable together."""

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import domain, orm, publishing
from services.plans.domain import LineStatus, PlanStatus
from services.plans.schemas import ActionLineCreate, PlanCreate, SectionCreate
from shared.problems import Conflict, FieldError, NotFound, Unprocessable


@dataclass(frozen=True)
class ChangeActionLineStatus:
    action_line_id: uuid.UUID
    status: LineStatus
    expected_version: int
    effective_date: date
    actor: str
    note: str | None = None
    source_kind: str = "api"
    source_id: str | None = None


async def create_plan(session: AsyncSession, data: PlanCreate) -> orm.Plan:
    if data.predecessor_id is not None:
        await get_plan(session, data.predecessor_id, field="predecessor_id")
    plan = orm.Plan(id=uuid.uuid4(), status=PlanStatus.DRAFT.value, version=1, **data.model_dump())
    session.add(plan)
    await _flush_unique(session, f"a plan with code {data.code!r} already exists")
    await publishing.publish(
        session, publishing.plan_created(plan), plan_id=plan.id, subject=f"plans/{plan.id}"
    )
    return plan


async def add_section(
    session: AsyncSession, plan_id: uuid.UUID, data: SectionCreate
) -> orm.Section:
    await get_plan(session, plan_id)
    section_id = uuid.uuid4()
    path = [section_id]
    if data.parent_id is not None:
        parent = await _get_section(session, plan_id, data.parent_id, field="parent_id")
        path = [*parent.path, section_id]
    section = orm.Section(
        id=section_id,
        plan_id=plan_id,
        parent_id=data.parent_id,
        code=data.code,
        title=data.title,
        ordering_key=data.ordering_key or data.code,
        path=path,
    )
    session.add(section)
    await _flush_unique(session, f"the plan already has a section with code {data.code!r}")
    return section


async def add_action_line(
    session: AsyncSession, plan_id: uuid.UUID, data: ActionLineCreate
) -> orm.ActionLine:
    await get_plan(session, plan_id)
    section_path: list[uuid.UUID] = []
    if data.section_id is not None:
        section_path = (
            await _get_section(session, plan_id, data.section_id, field="section_id")
        ).path
    line = orm.ActionLine(
        id=uuid.uuid4(),
        plan_id=plan_id,
        status=LineStatus.NOT_STARTED.value,
        version=1,
        **data.model_dump(exclude={"ordering_key"}),
        ordering_key=data.ordering_key or data.code,
    )
    session.add(line)
    await _flush_unique(session, f"the plan already has an action line with code {data.code!r}")
    await publishing.publish(
        session,
        publishing.action_line_created(line, section_path),
        plan_id=plan_id,
        subject=f"action-lines/{line.id}",
    )
    return line


async def change_action_line_status(
    session: AsyncSession, command: ChangeActionLineStatus
) -> orm.ActionLine:
    # Lock the row: two concurrent changes of one line must serialise on its version.
    line = await session.get(orm.ActionLine, command.action_line_id, with_for_update=True)
    if line is None:
        raise NotFound(f"action line {command.action_line_id} does not exist")
    change = domain.change_status(
        LineStatus(line.status), line.version, command.status, command.expected_version
    )
    line.status = change.new.value
    line.version = change.version
    entry = orm.JournalEntry(
        plan_id=line.plan_id,
        action_line_id=line.id,
        from_status=change.old.value,
        to_status=change.new.value,
        version=change.version,
        effective_date=command.effective_date,
        actor=command.actor,
        note=command.note,
        source_kind=command.source_kind,
        source_id=command.source_id,
    )
    session.add(entry)
    await session.flush()
    section_path = await _section_path(session, line.section_id)
    await publishing.publish(
        session,
        publishing.status_changed(line, entry, section_path),
        plan_id=line.plan_id,
        subject=f"action-lines/{line.id}",
    )
    return line


async def get_plan(
    session: AsyncSession, plan_id: uuid.UUID, *, field: str | None = None
) -> orm.Plan:
    plan = await session.get(orm.Plan, plan_id)
    if plan is None:
        _missing(f"plan {plan_id} does not exist", field)
    assert plan is not None
    return plan


async def get_action_line(session: AsyncSession, line_id: uuid.UUID) -> orm.ActionLine:
    line = await session.get(orm.ActionLine, line_id)
    if line is None:
        raise NotFound(f"action line {line_id} does not exist")
    return line


async def _get_section(
    session: AsyncSession, plan_id: uuid.UUID, section_id: uuid.UUID, *, field: str
) -> orm.Section:
    section = await session.get(orm.Section, section_id)
    if section is None or section.plan_id != plan_id:
        _missing(f"section {section_id} does not exist in plan {plan_id}", field)
    assert section is not None
    return section


async def _section_path(session: AsyncSession, section_id: uuid.UUID | None) -> list[uuid.UUID]:
    if section_id is None:
        return []
    path = await session.scalar(select(orm.Section.path).where(orm.Section.id == section_id))
    return list(path or [])


def _missing(message: str, field: str | None) -> None:
    """An unknown id in the URL is a 404; an unknown id in the body is a 422 on that field."""
    if field is None:
        raise NotFound(message)
    raise Unprocessable(message, errors=[FieldError(field=f"body.{field}", message=message)])


async def _flush_unique(session: AsyncSession, message: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc

"""One async function per command. Each runs inside the caller's unit of work (the route's
or the consumer's transaction): it changes state and stages the events in the outbox, and
the single commit makes both durable together."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import domain, orm, publishing
from services.plans.domain import LineStatus, PlanStatus
from services.plans.schemas import ActionLineCreate, ActionLineUpdate, PlanCreate, SectionCreate
from shared.contracts import plans as events
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


@dataclass(frozen=True)
class ChangePlanStatus:
    plan_id: uuid.UUID
    status: PlanStatus
    source: events.ChangeSource
    submitted_to_meeting_id: uuid.UUID | None = None
    carry_over_unfinished: bool = False


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


async def change_plan_status(session: AsyncSession, command: ChangePlanStatus) -> orm.Plan:
    """Move a plan along its lifecycle. Approving a successor can carry the predecessor's
    unfinished lines over; activating it supersedes the predecessor."""
    plan = await get_plan(session, command.plan_id, lock=True)
    old = PlanStatus(plan.status)
    plan.status = domain.change_plan_status(old, command.status).value
    plan.version += 1
    carried = 0
    if command.status is PlanStatus.SUBMITTED:
        plan.submitted_to_meeting_id = command.submitted_to_meeting_id
    if (
        command.status is PlanStatus.APPROVED
        and command.carry_over_unfinished
        and plan.predecessor_id
    ):
        carried = await _carry_over(session, plan)
    await session.flush()
    await _publish_lifecycle(session, plan, old, command, carried_over_lines=carried)
    if command.status is PlanStatus.ACTIVE and plan.predecessor_id is not None:
        await _supersede(session, plan.predecessor_id, successor=plan, source=command.source)
    return plan


async def _supersede(
    session: AsyncSession, plan_id: uuid.UUID, *, successor: orm.Plan, source: events.ChangeSource
) -> None:
    predecessor = await get_plan(session, plan_id, lock=True)
    if PlanStatus.SUPERSEDED not in domain.PLAN_TRANSITIONS[PlanStatus(predecessor.status)]:
        return  # a predecessor still in draft, say, is left as it is
    old = PlanStatus(predecessor.status)
    predecessor.status = PlanStatus.SUPERSEDED.value
    predecessor.successor_id = successor.id
    predecessor.version += 1
    await session.flush()
    command = ChangePlanStatus(plan_id=predecessor.id, status=PlanStatus.SUPERSEDED, source=source)
    await _publish_lifecycle(session, predecessor, old, command)


_LIFECYCLE_EVENTS: dict[PlanStatus, type[events.PlanLifecycleChanged]] = {
    PlanStatus.SUBMITTED: events.PlanSubmitted,
    PlanStatus.APPROVED: events.PlanApproved,
    PlanStatus.ACTIVE: events.PlanActivated,
    PlanStatus.COMPLETED: events.PlanCompleted,
    PlanStatus.SUPERSEDED: events.PlanSuperseded,
}


async def _publish_lifecycle(
    session: AsyncSession,
    plan: orm.Plan,
    old: PlanStatus,
    command: ChangePlanStatus,
    carried_over_lines: int = 0,
) -> None:
    contract = _LIFECYCLE_EVENTS.get(command.status)
    if contract is None:  # back to draft: nothing anyone subscribes to
        return
    extra: dict[str, object] = {}
    if contract is events.PlanSubmitted:
        extra["submitted_to_meeting_id"] = command.submitted_to_meeting_id
    elif contract is events.PlanApproved:
        extra["carried_over_lines"] = carried_over_lines
    elif contract is events.PlanSuperseded:
        extra["successor_id"] = plan.successor_id
    payload = contract(
        plan_id=plan.id,
        code=plan.code,
        title=plan.title,
        old_status=old.value,
        new_status=command.status.value,
        predecessor_id=plan.predecessor_id,
        source=command.source,
        changed_at=datetime.now(UTC),
        **extra,
    )
    await publishing.publish(session, payload, plan_id=plan.id, subject=f"plans/{plan.id}")


async def _carry_over(session: AsyncSession, successor: orm.Plan) -> int:
    """Copy the predecessor's unfinished lines into the successor, with lineage both ways.
    Sections are matched by code and created in the successor where missing."""
    assert successor.predecessor_id is not None
    lines = (
        await session.scalars(
            select(orm.ActionLine)
            .where(
                orm.ActionLine.plan_id == successor.predecessor_id,
                orm.ActionLine.carried_over_to.is_(None),
            )
            .order_by(orm.ActionLine.ordering_key)
        )
    ).all()
    unfinished = [line for line in lines if domain.is_unfinished(LineStatus(line.status))]
    taken_codes = set(
        await session.scalars(
            select(orm.ActionLine.code).where(orm.ActionLine.plan_id == successor.id)
        )
    )
    sections: dict[uuid.UUID, uuid.UUID] = {}
    for line in unfinished:
        section_id = await _matching_section(session, successor.id, line.section_id, sections)
        code = line.code if line.code not in taken_codes else f"{line.code} (carried over)"
        copy = ActionLineCreate(
            code=code,
            text=line.text,
            section_id=section_id,
            ordering_key=line.ordering_key,
            leads=line.leads,
            tags=line.tags,
            target_date=None,  # the new plan sets its own targets
            weight=line.weight,
        )
        new_line = await add_action_line(session, successor.id, copy, carried_over_from=line.id)
        line.carried_over_to = new_line.id
    return len(unfinished)


async def _matching_section(
    session: AsyncSession,
    plan_id: uuid.UUID,
    source_id: uuid.UUID | None,
    made: dict[uuid.UUID, uuid.UUID],
) -> uuid.UUID | None:
    if source_id is None:
        return None
    if source_id in made:
        return made[source_id]
    source = await session.get(orm.Section, source_id)
    assert source is not None
    parent_id = await _matching_section(session, plan_id, source.parent_id, made)
    existing = await session.scalar(
        select(orm.Section).where(orm.Section.plan_id == plan_id, orm.Section.code == source.code)
    )
    if existing is None:
        existing = await add_section(
            session,
            plan_id,
            SectionCreate(
                code=source.code,
                title=source.title,
                parent_id=parent_id,
                ordering_key=source.ordering_key,
            ),
        )
    made[source_id] = existing.id
    return existing.id


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
    await publishing.publish(
        session,
        publishing.section_created(section),
        plan_id=plan_id,
        subject=f"sections/{section.id}",
    )
    return section


async def add_action_line(
    session: AsyncSession,
    plan_id: uuid.UUID,
    data: ActionLineCreate,
    *,
    carried_over_from: uuid.UUID | None = None,
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
        carried_over_from=carried_over_from,
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


async def update_action_line(
    session: AsyncSession, line_id: uuid.UUID, data: ActionLineUpdate, expected_version: int
) -> orm.ActionLine:
    line = await session.get(orm.ActionLine, line_id, with_for_update=True)
    if line is None:
        raise NotFound(f"action line {line_id} does not exist")
    if expected_version != line.version:
        raise domain.StaleVersion(expected_version, line.version)
    changes = data.model_dump(exclude_unset=True)
    if "section_id" in changes and changes["section_id"] is not None:
        await _get_section(session, line.plan_id, changes["section_id"], field="section_id")
    for name, value in changes.items():
        setattr(line, name, value)
    line.version += 1
    await _flush_unique(session, f"the plan already has an action line with code {line.code!r}")
    section_path = await _section_path(session, line.section_id)
    await publishing.publish(
        session,
        publishing.action_line_updated(line, section_path),
        plan_id=line.plan_id,
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
    return await apply_status_change(session, line, command)


async def apply_status_change(
    session: AsyncSession, line: orm.ActionLine, command: ChangeActionLineStatus
) -> orm.ActionLine:
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
    session: AsyncSession, plan_id: uuid.UUID, *, field: str | None = None, lock: bool = False
) -> orm.Plan:
    plan = await session.get(orm.Plan, plan_id, with_for_update=lock)
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

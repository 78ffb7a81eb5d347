"""Domain changes -> public event contracts, staged in the outbox of the current transaction."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import orm
from shared.contracts import plans as events
from shared.events import EventContract
from shared.outbox import Outgoing, stage_event, stage_events
from shared.topics import PLANS_EVENTS


async def publish(
    session: AsyncSession, payload: EventContract, *, plan_id: object, subject: str
) -> None:
    """Every plans event is keyed by its plan id, so one plan's events stay in order."""
    await stage_event(
        session,
        orm.outbox,
        payload,
        topic=PLANS_EVENTS,
        key=str(plan_id),
        source=events.SOURCE,
        subject=subject,
    )


async def publish_many(session: AsyncSession, items: list[Outgoing]) -> None:
    await stage_events(session, orm.outbox, items, topic=PLANS_EVENTS, source=events.SOURCE)


def plan_created(plan: orm.Plan) -> events.PlanCreated:
    return events.PlanCreated(
        plan_id=plan.id,
        code=plan.code,
        title=plan.title,
        partners=plan.partners,
        period_start=plan.period_start,
        period_end=plan.period_end,
        status=plan.status,
        predecessor_id=plan.predecessor_id,
    )


def section_created(section: orm.Section) -> events.SectionCreated:
    return events.SectionCreated(
        plan_id=section.plan_id,
        section_id=section.id,
        parent_id=section.parent_id,
        path=section.path,
        code=section.code,
        title=section.title,
        ordering_key=section.ordering_key,
    )


def _line_fields(line: orm.ActionLine, section_path: list[uuid.UUID]) -> dict[str, Any]:
    """What the created and updated events both say of a line."""
    return {
        "plan_id": line.plan_id,
        "action_line_id": line.id,
        "section_path": section_path,
        "code": line.code,
        "text": line.text,
        "leads": line.leads,
        "tags": line.tags,
        "target_date": line.target_date,
        "weight": line.weight,
        "status": line.status,
        "version": line.version,
    }


def action_line_created(
    line: orm.ActionLine, section_path: list[uuid.UUID]
) -> events.ActionLineCreated:
    return events.ActionLineCreated(
        **_line_fields(line, section_path), carried_over_from=line.carried_over_from
    )


def action_line_updated(
    line: orm.ActionLine, section_path: list[uuid.UUID]
) -> events.ActionLineUpdated:
    return events.ActionLineUpdated(**_line_fields(line, section_path))


def status_changed(
    line: orm.ActionLine,
    entry: orm.JournalEntry,
    section_path: list,
) -> events.ActionLineStatusChanged:
    return events.ActionLineStatusChanged(
        plan_id=line.plan_id,
        action_line_id=line.id,
        section_path=section_path,
        code=line.code,
        tags=line.tags,
        leads=line.leads,
        old_status=entry.from_status,
        new_status=entry.to_status,
        version=entry.version,
        effective_date=entry.effective_date,
        target_date=line.target_date,
        actor=entry.actor,
        source=events.ChangeSource(kind=entry.source_kind, id=entry.source_id),
        note=entry.note,
        changed_at=datetime.now(UTC),
    )

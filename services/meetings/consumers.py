"""Plans' events -> meetings' read model of plans, and plans' answers to meeting decisions.

No domain logic here: each function records what the event says. The runner calls them
inside the transaction that also records the event id, so a redelivery changes nothing.
"""

import uuid
from collections.abc import Mapping

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings import handlers, orm
from shared.consumer import Handler
from shared.contracts import plans as plan_events
from shared.events import CloudEvent, EventContract


async def plan_created(session: AsyncSession, event: CloudEvent, data: EventContract) -> None:
    assert isinstance(data, plan_events.PlanCreated)
    await _upsert_plan(session, data.plan_id, code=data.code, title=data.title, status=data.status)


async def plan_lifecycle_changed(
    session: AsyncSession, event: CloudEvent, data: EventContract
) -> None:
    assert isinstance(data, plan_events.PlanLifecycleChanged)
    await _upsert_plan(
        session, data.plan_id, code=data.code, title=data.title, status=data.new_status
    )
    if data.source.kind == "meeting_decision" and data.source.id is not None:
        try:
            decision_id = uuid.UUID(data.source.id)
        except ValueError:
            return  # not a decision of ours
        await handlers.record_plan_decision(session, decision_id, rejection=None)


async def _upsert_plan(session: AsyncSession, plan_id: uuid.UUID, **values: str) -> None:
    await session.execute(
        pg_insert(orm.KnownPlan)
        .values(plan_id=plan_id, **values)
        .on_conflict_do_update(index_elements=[orm.KnownPlan.plan_id], set_=values)
    )


async def section_created(session: AsyncSession, event: CloudEvent, data: EventContract) -> None:
    assert isinstance(data, plan_events.SectionCreated)
    await session.execute(
        pg_insert(orm.KnownSection)
        .values(
            section_id=data.section_id,
            plan_id=data.plan_id,
            code=data.code,
            title=data.title,
            ordering_key=data.ordering_key,
            path=data.path,
        )
        .on_conflict_do_nothing()
    )


async def action_line_created(
    session: AsyncSession, event: CloudEvent, data: EventContract
) -> None:
    assert isinstance(data, plan_events.ActionLineCreated)
    await _upsert_line(session, data, initial_status=data.status)


async def action_line_updated(
    session: AsyncSession, event: CloudEvent, data: EventContract
) -> None:
    assert isinstance(data, plan_events.ActionLineUpdated)
    await _upsert_line(session, data, initial_status=data.status)


async def status_changed(session: AsyncSession, event: CloudEvent, data: EventContract) -> None:
    assert isinstance(data, plan_events.ActionLineStatusChanged)
    # A line first seen through a status change started in the change's old status.
    await _upsert_line(session, data, initial_status=data.old_status, status=data.new_status)
    session.add(
        orm.KnownStatusChange(
            plan_id=data.plan_id,
            action_line_id=data.action_line_id,
            old_status=data.old_status,
            new_status=data.new_status,
            effective_date=data.effective_date,
            version=data.version,
        )
    )


async def _upsert_line(
    session: AsyncSession,
    data: plan_events.ActionLineCreated
    | plan_events.ActionLineUpdated
    | plan_events.ActionLineStatusChanged,
    *,
    initial_status: str,
    status: str | None = None,
) -> None:
    current = status or initial_status
    changed = {
        "code": data.code,
        "section_path": data.section_path,
        "status": current,
        "version": data.version,
    }
    table = orm.KnownActionLine.__table__
    await session.execute(
        pg_insert(orm.KnownActionLine)
        .values(
            action_line_id=data.action_line_id,
            plan_id=data.plan_id,
            initial_status=initial_status,
            **changed,
        )
        .on_conflict_do_update(
            index_elements=[orm.KnownActionLine.action_line_id],
            set_=changed,
            # Events of one plan arrive in order; the version guard only shields against a
            # replay of an older event after a newer one.
            where=table.c.version <= data.version,
        )
    )


async def status_review_processed(
    session: AsyncSession, event: CloudEvent, data: EventContract
) -> None:
    assert isinstance(data, plan_events.StatusReviewProcessed)
    await handlers.record_review_results(session, data)


async def plan_decision_rejected(
    session: AsyncSession, event: CloudEvent, data: EventContract
) -> None:
    assert isinstance(data, plan_events.PlanDecisionRejected)
    await handlers.record_plan_decision(session, data.decision_id, rejection=data.reason)


HANDLERS: Mapping[str, Handler] = {
    plan_events.PlanCreated.event_type: plan_created,
    **{
        contract.event_type: plan_lifecycle_changed
        for contract in (
            plan_events.PlanSubmitted,
            plan_events.PlanApproved,
            plan_events.PlanActivated,
            plan_events.PlanCompleted,
            plan_events.PlanSuperseded,
        )
    },
    plan_events.SectionCreated.event_type: section_created,
    plan_events.ActionLineCreated.event_type: action_line_created,
    plan_events.ActionLineUpdated.event_type: action_line_updated,
    plan_events.ActionLineStatusChanged.event_type: status_changed,
    plan_events.StatusReviewProcessed.event_type: status_review_processed,
    plan_events.PlanDecisionRejected.event_type: plan_decision_rejected,
}

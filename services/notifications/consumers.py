"""Events consumed from other services -> this service's records (no domain logic here)."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import orm
from shared.contracts import plans as plan_events
from shared.events import CloudEvent, EventContract


async def record_plan_activity(
    session: AsyncSession, event: CloudEvent, data: EventContract
) -> None:
    plan_id = data.plan_id  # type: ignore[attr-defined]  # every plans contract has it
    session.add(
        orm.PlanActivity(
            event_id=event.id,
            event_type=event.type,
            plan_id=plan_id,
            subject=event.subject,
            data=event.data,
            occurred_at=event.time,
        )
    )


HANDLERS = {
    contract.event_type: record_plan_activity
    for contract in (
        plan_events.PlanCreated,
        plan_events.ActionLineCreated,
        plan_events.ActionLineStatusChanged,
    )
}

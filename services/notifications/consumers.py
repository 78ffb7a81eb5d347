"""Events consumed from other services -> this service's records (no domain logic here)."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import fanout
from shared.contracts import meetings as meeting_events
from shared.contracts import plans as plan_events
from shared.events import CloudEvent, EventContract


async def take_in(session: AsyncSession, event: CloudEvent, data: EventContract) -> None:
    await fanout.take_in(session, event, data)


CONSUMED = (
    plan_events.PlanCreated,
    plan_events.PlanSubmitted,
    plan_events.PlanApproved,
    plan_events.PlanActivated,
    plan_events.PlanCompleted,
    plan_events.PlanSuperseded,
    plan_events.SectionCreated,
    plan_events.ActionLineCreated,
    plan_events.ActionLineUpdated,
    plan_events.ActionLineStatusChanged,
    plan_events.RollupChanged,
    meeting_events.MeetingScheduled,
    meeting_events.MeetingPostponed,
    meeting_events.MeetingStarted,
    meeting_events.MeetingConcluded,
    meeting_events.MeetingCancelled,
    meeting_events.DecisionAdopted,
)

HANDLERS = {contract.event_type: take_in for contract in CONSUMED}

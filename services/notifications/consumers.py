"""Events consumed from other services -> the intake's command (no domain logic here)."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.intake.domain import Consumed, as_newest
from services.notifications.intake.handlers import TakeIn, take_in
from shared.contracts import meetings as meeting_events
from shared.contracts import plans as plan_events
from shared.events import CloudEvent
from shared.subscriptions import Subscriptions

subscriptions = Subscriptions()

# The newest version of each contract (the runner validates an event against its own version).
CONSUMED: tuple[type[Consumed], ...] = (
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
    plan_events.ActionLineHistoryCorrected,
    plan_events.RollupsChanged,
    meeting_events.MeetingScheduled,
    meeting_events.MeetingPostponed,
    meeting_events.MeetingStarted,
    meeting_events.MeetingConcluded,
    meeting_events.MeetingCancelled,
    meeting_events.DecisionAdopted,
)


async def on_event(
    session: AsyncSession, event: CloudEvent, data: Consumed | plan_events.RollupChanged
) -> None:
    """Every consumed event is taken in the same way: recorded, projected, fanned out. The
    handler of a type gets its events of every version; an older version is read as the
    newest, so that the intake knows one shape of each."""
    await take_in(session, TakeIn(envelope=event, event=as_newest(data)))


# Registered one contract at a time: a stack of ``@subscriptions.on`` decorators does not
# type-check (each returns a handler typed for its own contract only), while ``on(contract)``
# with ``contract: type[Consumed]`` checks that ``on_event`` takes every contract listed.
for contract in CONSUMED:
    subscriptions.on(contract)(on_event)

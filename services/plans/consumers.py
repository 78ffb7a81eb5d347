"""Events the plans service consumes -> its commands (no domain logic here).

- its own line events feed the rollup read model;
- a meeting's conclusion: the figures of each plan it reviewed, as of its date, are
  published (kept, and announced with the meeting's id for its snapshot);
- meetings' adopted decisions: a status review applies the reported statuses with the
  decision as their source; a plan submission or approval moves the plan. What cannot be
  applied is recorded as rejected, with the reason, and published, never silently dropped.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import events, handlers, orm
from services.plans.domain import LineStatus, PlanStatus, Source, plan_today
from services.plans.figures import handlers as figures
from services.plans.rollups.projection import LineEvent, Projection, apply
from shared.contracts import meetings as meeting_contracts
from shared.contracts import plans as contracts
from shared.errors import DomainError
from shared.events import CloudEvent
from shared.subscriptions import Batched, Subscriptions

subscriptions = Subscriptions()


async def on_line_event(session: AsyncSession, event: CloudEvent, data: LineEvent) -> None:
    """Apply a line event to the rollup read model and publish the rollups it changed."""
    await apply(Projection(session, publish=True, cause_event_id=event.id), data)


async def on_lines_created(
    session: AsyncSession, run: Sequence[tuple[CloudEvent, contracts.ActionLineCreated]]
) -> None:
    """Count new lines in the rollups, all those that came together at once (a plan import's):
    they publish nothing, so handling them together changes no event or trace."""
    await Projection(session, publish=True).lines_created([data for _, data in run])


subscriptions.on(contracts.ActionLineCreated)(Batched(on_lines_created))
# One handler for the other line events (the decorator cannot be stacked for a union).
subscriptions.on(contracts.ActionLineStatusChanged)(on_line_event)
subscriptions.on(contracts.ActionLineUpdated)(on_line_event)
subscriptions.on(contracts.ActionLineHistoryCorrected)(on_line_event)


@subscriptions.on(meeting_contracts.DecisionAdopted)
async def on_decision_adopted(
    session: AsyncSession, event: CloudEvent, data: meeting_contracts.DecisionAdopted
) -> None:
    body = data.body
    if isinstance(body, meeting_contracts.StatusReview):
        review = handlers.ApplyStatusReview(
            plan_id=body.plan_id,
            meeting_id=data.meeting_id,
            decision_id=data.decision_id,
            effective_date=body.effective_date,
            lines=[
                handlers.ReviewedLine(
                    action_line_id=line.action_line_id,
                    code=line.code,
                    status=LineStatus(line.status),
                    note=line.note,
                    effective_date=line.effective_date,
                )
                for line in body.lines
            ],
        )
        await handlers.apply_status_review(session, review)
    elif isinstance(body, meeting_contracts.PlanSubmission):
        await _apply_plan_decision(
            session,
            data,
            body.plan_id,
            PlanStatus.SUBMITTED,
            submitted_to=body.submitted_to_meeting_id,
        )
    elif isinstance(body, meeting_contracts.PlanApproval):
        approved = await _apply_plan_decision(
            session, data, body.plan_id, PlanStatus.APPROVED, carry_over=body.carry_over_unfinished
        )
        if approved and body.activate:
            await _apply_plan_decision(session, data, body.plan_id, PlanStatus.ACTIVE)


@subscriptions.on(meeting_contracts.MeetingConcluded)
async def on_meeting_concluded(
    session: AsyncSession, event: CloudEvent, data: meeting_contracts.MeetingConcluded
) -> None:
    """Publish each reviewed plan's figures (overall and per pillar) as of the meeting's
    date, so the meeting's frozen snapshot and its statement can link to them. The meeting's
    own decisions come earlier on its topic's partition, so they are in the journal already."""
    day = data.starts_at.astimezone(ZoneInfo(data.timezone)).date()
    for plan_id in data.plans_under_review:
        plan = await session.get(orm.Plan, plan_id)
        if plan is None or day > plan_today(plan.time_zone, datetime.now(UTC)):
            continue  # a plan this service does not have, or a day not begun in its calendar
        pillars = await session.scalars(
            select(orm.Section.id).where(
                orm.Section.plan_id == plan_id, orm.Section.parent_id.is_(None)
            )
        )
        await figures.publish_scopes(
            session,
            plan_id,
            ["plan", *(f"section:{p}" for p in pillars)],
            None,
            day,
            meeting_id=data.meeting_id,
        )


async def _apply_plan_decision(
    session: AsyncSession,
    decision: meeting_contracts.DecisionAdopted,
    plan_id: uuid.UUID,
    status: PlanStatus,
    *,
    submitted_to: uuid.UUID | None = None,
    carry_over: bool = False,
) -> bool:
    command = handlers.ChangePlanStatus(
        plan_id=plan_id,
        status=status,
        source=Source.decision(decision.decision_id),
        submitted_to_meeting_id=submitted_to,
        carry_over_unfinished=carry_over,
    )
    # A savepoint, so a refused decision leaves nothing half-done but is still answered.
    savepoint = await session.begin_nested()
    try:
        await handlers.change_plan_status(session, command)
    except DomainError as refused:
        await savepoint.rollback()
        rejected = contracts.PlanDecisionRejected(
            plan_id=plan_id,
            meeting_id=decision.meeting_id,
            decision_id=decision.decision_id,
            reason=refused.message,
        )
        await events.outbox.add(session, rejected, subject=f"decisions/{decision.decision_id}")
        return False
    await savepoint.commit()
    return True

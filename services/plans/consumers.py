"""Events the plans service consumes -> its commands (no domain logic here).

- its own line events feed the rollup read model;
- meetings' adopted decisions: a status review applies the reported statuses with the
  decision as their source; a plan submission or approval moves the plan. What cannot be
  applied is recorded as rejected, with the reason, and published, never silently dropped.
"""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import domain, handlers, orm, publishing, rollup_projection
from services.plans.domain import LineStatus, PlanStatus
from shared.contracts import meetings as meeting_events
from shared.contracts import plans as events
from shared.events import CloudEvent, EventContract
from shared.problems import Problem


async def on_decision_adopted(
    session: AsyncSession, event: CloudEvent, data: EventContract
) -> None:
    assert isinstance(data, meeting_events.DecisionAdopted)
    body = data.body
    if isinstance(body, meeting_events.StatusReview):
        await _apply_review(session, data, body)
    elif isinstance(body, meeting_events.PlanSubmission):
        await _apply_plan_decision(
            session,
            data,
            body.plan_id,
            PlanStatus.SUBMITTED,
            submitted_to=body.submitted_to_meeting_id,
        )
    elif isinstance(body, meeting_events.PlanApproval):
        approved = await _apply_plan_decision(
            session, data, body.plan_id, PlanStatus.APPROVED, carry_over=body.carry_over_unfinished
        )
        if approved and body.activate:
            await _apply_plan_decision(session, data, body.plan_id, PlanStatus.ACTIVE)


async def _apply_review(
    session: AsyncSession,
    decision: meeting_events.DecisionAdopted,
    review: meeting_events.StatusReview,
) -> None:
    plan = await session.get(orm.Plan, review.plan_id)
    results = []
    for reviewed in review.lines:
        line = await _find_line(session, review.plan_id, reviewed) if plan is not None else None
        if line is None:
            reason = "unknown plan" if plan is None else "no such action line in the plan"
            results.append(_result(reviewed, None, "rejected", reason))
            continue
        if line.status == reviewed.status:
            results.append(_result(reviewed, line, "unchanged"))
            continue
        command = handlers.ChangeActionLineStatus(
            action_line_id=line.id,
            status=LineStatus(reviewed.status),
            expected_version=line.version,
            effective_date=review.effective_date,
            actor=f"meeting:{decision.meeting_id}",
            note=reviewed.note,
            source_kind="meeting_decision",
            source_id=str(decision.decision_id),
        )
        try:
            await handlers.apply_status_change(session, line, command)
        except domain.ForbiddenTransition as refused:
            results.append(_result(reviewed, line, "rejected", str(refused)))
            continue
        results.append(_result(reviewed, line, "applied"))
    await publishing.publish(
        session,
        events.StatusReviewProcessed(
            plan_id=review.plan_id,
            meeting_id=decision.meeting_id,
            decision_id=decision.decision_id,
            results=results,
        ),
        plan_id=review.plan_id,
        subject=f"decisions/{decision.decision_id}",
    )


async def _find_line(
    session: AsyncSession, plan_id: uuid.UUID, reviewed: meeting_events.ReviewedLine
) -> orm.ActionLine | None:
    query = select(orm.ActionLine).where(orm.ActionLine.plan_id == plan_id).with_for_update()
    if reviewed.action_line_id is not None:
        query = query.where(orm.ActionLine.id == reviewed.action_line_id)
    elif reviewed.code is not None:
        query = query.where(orm.ActionLine.code == reviewed.code)
    else:
        return None
    return await session.scalar(query)


def _result(
    reviewed: meeting_events.ReviewedLine,
    line: orm.ActionLine | None,
    outcome: str,
    reason: str | None = None,
) -> events.ReviewLineResult:
    return events.ReviewLineResult(
        action_line_id=line.id if line is not None else reviewed.action_line_id,
        code=line.code if line is not None else reviewed.code,
        status=reviewed.status,
        outcome=outcome,
        reason=reason,
    )


async def _apply_plan_decision(
    session: AsyncSession,
    decision: meeting_events.DecisionAdopted,
    plan_id: uuid.UUID,
    status: PlanStatus,
    *,
    submitted_to: uuid.UUID | None = None,
    carry_over: bool = False,
) -> bool:
    command = handlers.ChangePlanStatus(
        plan_id=plan_id,
        status=status,
        source=events.ChangeSource(kind="meeting_decision", id=str(decision.decision_id)),
        submitted_to_meeting_id=submitted_to,
        carry_over_unfinished=carry_over,
    )
    # A savepoint, so a refused decision leaves nothing half-done but is still answered.
    savepoint = await session.begin_nested()
    try:
        await handlers.change_plan_status(session, command)
    except (domain.DomainError, Problem) as refused:
        await savepoint.rollback()
        reason = refused.detail if isinstance(refused, Problem) else str(refused)
        await publishing.publish(
            session,
            events.PlanDecisionRejected(
                plan_id=plan_id,
                meeting_id=decision.meeting_id,
                decision_id=decision.decision_id,
                reason=reason,
            ),
            plan_id=plan_id,
            subject=f"decisions/{decision.decision_id}",
        )
        return False
    await savepoint.commit()
    return True


HANDLERS = {
    **{
        contract.event_type: rollup_projection.on_line_event
        for contract in rollup_projection.LINE_EVENTS
    },
    meeting_events.DecisionAdopted.event_type: on_decision_adopted,
}

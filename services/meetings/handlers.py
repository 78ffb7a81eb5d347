"""One async function per command. Each runs inside the caller's unit of work (the route's
or the consumer's transaction): it changes state and stages the events in the outbox, and
the single commit makes both durable together."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings import domain, orm, publishing, views
from services.meetings.domain import DecisionKind, MeetingStatus
from services.meetings.schemas import (
    AgendaItemCreate,
    Attendance,
    DecisionCreate,
    Fulfil,
    MeetingCreate,
    Postpone,
    StatusReviewIn,
)
from shared.contracts import plans as plan_events
from shared.problems import NotFound

Row = TypeVar("Row", bound=orm.Base)


async def schedule_meeting(session: AsyncSession, data: MeetingCreate) -> orm.Meeting:
    domain.check_schedule(data.starts_at, data.ends_at, data.timezone)
    domain.check_participants(data.participants, [c.delegation for c in data.co_chairs])
    meeting_id = uuid.uuid4()
    meeting = orm.Meeting(
        id=meeting_id,
        series=data.series,
        title=data.title,
        level=data.level,
        format=data.format,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        timezone=data.timezone,
        place=data.place,
        status=MeetingStatus.SCHEDULED.value,
        co_chairs=[c.model_dump() for c in data.co_chairs],
        version=1,
        participants=[
            orm.Participant(delegation=code, attendance=Attendance.INVITED.value, position=i)
            for i, code in enumerate(data.participants)
        ],
        plans=[
            orm.PlanUnderReview(plan_id=plan_id, position=i)
            for i, plan_id in enumerate(dict.fromkeys(data.plans_under_review))
        ],
        agenda_items=[_agenda_item(meeting_id, i, item) for i, item in enumerate(data.agenda)],
        postponements=[],
    )
    session.add(meeting)
    await session.flush()
    await publishing.publish(session, meeting, publishing.scheduled(meeting))
    return meeting


def _agenda_item(meeting_id: uuid.UUID, position: int, item: AgendaItemCreate) -> orm.AgendaItem:
    return orm.AgendaItem(
        id=uuid.uuid4(),
        meeting_id=meeting_id,
        position=position,
        title=item.title,
        description=item.description,
        plan_ids=list(dict.fromkeys(item.plan_ids)),
        action_line_ids=list(dict.fromkeys(item.action_line_ids)),
    )


async def get_meeting(
    session: AsyncSession, meeting_id: uuid.UUID, *, lock: bool = False
) -> orm.Meeting:
    return await _get(session, orm.Meeting, meeting_id, "meeting", lock)


async def get_decision(
    session: AsyncSession, decision_id: uuid.UUID, *, lock: bool = False
) -> orm.Decision:
    return await _get(session, orm.Decision, decision_id, "decision", lock)


async def _get(
    session: AsyncSession, model: type[Row], row_id: uuid.UUID, what: str, lock: bool
) -> Row:
    # Locked for changes: two concurrent changes of one meeting or decision serialise.
    row = await session.get(model, row_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"{what} {row_id} does not exist")
    return row


async def postpone(session: AsyncSession, meeting_id: uuid.UUID, data: Postpone) -> orm.Meeting:
    meeting = await get_meeting(session, meeting_id, lock=True)
    domain.check_can_postpone(MeetingStatus(meeting.status))
    domain.check_schedule(data.starts_at, data.ends_at, meeting.timezone)
    postponement = orm.Postponement(
        meeting_id=meeting.id,
        old_starts_at=meeting.starts_at,
        old_ends_at=meeting.ends_at,
        new_starts_at=data.starts_at,
        new_ends_at=data.ends_at,
        reason=data.reason,
    )
    meeting.postponements.append(postponement)
    meeting.starts_at, meeting.ends_at = data.starts_at, data.ends_at
    meeting.version += 1
    await session.flush()
    await publishing.publish(session, meeting, publishing.postponed(meeting, postponement))
    return meeting


async def start(session: AsyncSession, meeting_id: uuid.UUID) -> orm.Meeting:
    meeting = await get_meeting(session, meeting_id, lock=True)
    now = _move(meeting, MeetingStatus.IN_PROGRESS)
    meeting.started_at = now
    await _published_move(session, meeting, now)
    return meeting


async def cancel(session: AsyncSession, meeting_id: uuid.UUID, reason: str | None) -> orm.Meeting:
    meeting = await get_meeting(session, meeting_id, lock=True)
    now = _move(meeting, MeetingStatus.CANCELLED)
    meeting.cancelled_at, meeting.cancellation_reason = now, reason
    await _published_move(session, meeting, now)
    return meeting


async def conclude(
    session: AsyncSession, meeting_id: uuid.UUID, decisions: Sequence[DecisionCreate]
) -> orm.Meeting:
    """Adopt the closing decisions, close the meeting, and freeze its briefing unless a
    status review still waits for the plans service (it is frozen when that answer comes)."""
    meeting = await get_meeting(session, meeting_id, lock=True)
    for data in decisions:
        await adopt_decision(session, meeting, data)
    now = _move(meeting, MeetingStatus.CONCLUDED)
    meeting.concluded_at = now
    await _published_move(session, meeting, now)
    await freeze_briefing_when_due(session, meeting)
    return meeting


def _move(meeting: orm.Meeting, requested: MeetingStatus) -> datetime:
    meeting.status = domain.transition(MeetingStatus(meeting.status), requested).value
    meeting.version += 1
    return datetime.now(UTC)


async def _published_move(session: AsyncSession, meeting: orm.Meeting, at: datetime) -> None:
    await session.flush()
    await publishing.publish(session, meeting, publishing.lifecycle_changed(meeting, at))


async def set_attendance(
    session: AsyncSession, meeting_id: uuid.UUID, delegation: str, attendance: Attendance
) -> orm.Meeting:
    """Record a delegation's attendance, adding it as a participant if it was not one."""
    meeting = await get_meeting(session, meeting_id, lock=True)
    domain.check_can_change_arrangements(MeetingStatus(meeting.status))
    participant = next((p for p in meeting.participants if p.delegation == delegation), None)
    if participant is None:
        position = len(meeting.participants)
        meeting.participants.append(
            orm.Participant(delegation=delegation, attendance=attendance.value, position=position)
        )
    else:
        participant.attendance = attendance.value
    meeting.version += 1
    await session.flush()
    return meeting


async def add_agenda_item(
    session: AsyncSession, meeting_id: uuid.UUID, data: AgendaItemCreate
) -> orm.AgendaItem:
    meeting = await get_meeting(session, meeting_id, lock=True)
    domain.check_can_change_arrangements(MeetingStatus(meeting.status))
    item = _agenda_item(meeting.id, len(meeting.agenda_items), data)
    meeting.agenda_items.append(item)
    meeting.version += 1
    await session.flush()
    return item


async def adopt_decision(
    session: AsyncSession, meeting: orm.Meeting, data: DecisionCreate
) -> orm.Decision:
    """Record a decision of a meeting in progress and publish it; the caller holds the
    meeting's row lock."""
    domain.check_can_decide(MeetingStatus(meeting.status))
    body = data.body
    if data.agenda_item_id is not None and data.agenda_item_id not in {
        item.id for item in meeting.agenda_items
    }:
        raise domain.InvalidInput("agenda_item_id", "no such agenda item at this meeting")
    contract_body = body.model_dump(mode="json")
    if isinstance(body, StatusReviewIn):
        domain.check_status_review(
            body.plan_id,
            [p.plan_id for p in meeting.plans],
            [domain.ReviewLineRef(line.action_line_id, line.code) for line in body.lines],
        )
        effective = body.effective_date or domain.meeting_date(meeting.starts_at, meeting.timezone)
        contract_body["effective_date"] = effective.isoformat()
    if body.kind == "plan_submission" and body.submitted_to_meeting_id is not None:
        await _check_submission_target(session, meeting, body.submitted_to_meeting_id)
    kind = DecisionKind(body.kind)
    decision = orm.Decision(
        id=uuid.uuid4(),
        meeting_id=meeting.id,
        agenda_item_id=data.agenda_item_id,
        kind=kind.value,
        title=data.title,
        body=contract_body,
        adopted_at=datetime.now(UTC),
        outcome=domain.initial_outcome(kind).value,
    )
    if body.kind == "commitment":
        decision.party = body.party
        decision.follow_up = domain.FollowUp.OPEN.value
    session.add(decision)
    await session.flush()
    await publishing.publish(session, meeting, publishing.decision_adopted(meeting, decision))
    return decision


async def _check_submission_target(
    session: AsyncSession, meeting: orm.Meeting, target_id: uuid.UUID
) -> None:
    target = await session.get(orm.Meeting, target_id)
    if target is None:
        raise domain.InvalidInput(
            "body.submitted_to_meeting_id", f"meeting {target_id} does not exist"
        )
    domain.check_submission_target(
        meeting.id, meeting.starts_at, target.id, MeetingStatus(target.status), target.starts_at
    )


async def fulfil_commitment(
    session: AsyncSession, decision_id: uuid.UUID, data: Fulfil
) -> orm.Decision:
    decision = await get_decision(session, decision_id, lock=True)
    follow_up = domain.FollowUp(decision.follow_up) if decision.follow_up else None
    decision.follow_up = domain.fulfil(DecisionKind(decision.kind), follow_up).value
    decision.fulfilled_on, decision.fulfilment_note = data.fulfilled_on, data.note
    await session.flush()
    meeting = await get_meeting(session, decision.meeting_id)
    await publishing.publish(session, meeting, publishing.commitment_fulfilled(decision))
    return decision


async def freeze_briefing_when_due(session: AsyncSession, meeting: orm.Meeting) -> None:
    """Freeze a concluded meeting's briefing once every status review it adopted has been
    answered by plans, so that the snapshot includes what the meeting itself decided."""
    if meeting.status != MeetingStatus.CONCLUDED.value:
        return
    if await session.get(orm.BriefingSnapshot, meeting.id) is not None:
        return
    if await views.pending_reviews(session, meeting.id):
        return
    briefing = await views.live_briefing(session, meeting)
    session.add(
        orm.BriefingSnapshot(meeting_id=meeting.id, content=briefing.model_dump(mode="json"))
    )
    await session.flush()


# --- plans' answers to decisions ---------------------------------------------------------


async def record_review_results(
    session: AsyncSession, answer: plan_events.StatusReviewProcessed
) -> None:
    decision = await session.get(orm.Decision, answer.decision_id, with_for_update=True)
    if decision is None:
        return  # not one of ours (another deployment's meeting)
    results = [r.model_dump(mode="json") for r in answer.results]
    decision.review_results = results
    decision.outcome = domain.review_outcome(r["outcome"] for r in results).value
    await session.flush()
    await freeze_briefing_when_due(session, await get_meeting(session, decision.meeting_id))


async def record_plan_decision(
    session: AsyncSession, decision_id: uuid.UUID, rejection: str | None
) -> None:
    decision = await session.get(orm.Decision, decision_id, with_for_update=True)
    if decision is None or decision.kind not in (
        DecisionKind.PLAN_SUBMISSION,
        DecisionKind.PLAN_APPROVAL,
    ):
        return
    decision.outcome = (domain.Outcome.REJECTED if rejection else domain.Outcome.APPLIED).value
    decision.rejection_reason = rejection
    await session.flush()

"""One async function per command, and the commands themselves. Each function runs inside
the caller's unit of work (the route's or the consumer's transaction): it changes state and
stages the events in the outbox, and the single commit makes both durable together.

Commands say what to do in the domain's words; a refusal is a domain error (``domain.py``,
``shared.errors``) whose field is the dotted path in the command, whoever sent it.
"""

import dataclasses
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings import domain, events, orm
from services.meetings.briefings.handlers import freeze_briefing_when_due
from services.meetings.domain import Attendance, DecisionKind, MeetingStatus
from shared import errors
from shared.contracts import meetings as contracts
from shared.contracts.meetings import MeetingFormat
from shared.contracts.plans import ActionLineStatus, ReviewLineResult
from shared.db import NO_KEY_UPDATE

# --- meetings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoChair:
    name: str
    title: str
    delegation: str


@dataclass(frozen=True, kw_only=True)
class NewAgendaItem:
    title: str
    description: str | None = None
    plan_ids: Sequence[uuid.UUID] = ()
    action_line_ids: Sequence[uuid.UUID] = ()


@dataclass(frozen=True, kw_only=True)
class ScheduleMeeting:
    series: str
    title: str
    level: str
    format: MeetingFormat
    starts_at: datetime
    ends_at: datetime
    timezone: str
    place: str | None = None
    participants: Sequence[str] = ()
    co_chairs: Sequence[CoChair] = ()
    plans_under_review: Sequence[uuid.UUID] = ()
    agenda: Sequence[NewAgendaItem] = ()


@dataclass(frozen=True, kw_only=True)
class PostponeMeeting:
    meeting_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class StartMeeting:
    meeting_id: uuid.UUID
    expected_version: int | None = None


@dataclass(frozen=True)
class CancelMeeting:
    meeting_id: uuid.UUID
    reason: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class SetAttendance:
    meeting_id: uuid.UUID
    delegation: str
    attendance: Attendance
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class AddAgendaItem(NewAgendaItem):
    meeting_id: uuid.UUID
    expected_version: int | None = None


async def schedule_meeting(session: AsyncSession, command: ScheduleMeeting) -> orm.Meeting:
    domain.check_schedule(command.starts_at, command.ends_at, command.timezone)
    domain.check_participants(command.participants, [c.delegation for c in command.co_chairs])
    domain.unknown_participants(
        command.participants, await _known_delegations(session, command.participants)
    )
    meeting_id = uuid.uuid4()
    meeting = orm.Meeting(
        id=meeting_id,
        series=command.series,
        title=command.title,
        level=command.level,
        format=command.format,
        starts_at=command.starts_at,
        ends_at=command.ends_at,
        timezone=command.timezone,
        place=command.place,
        status=MeetingStatus.SCHEDULED.value,
        co_chairs=[dataclasses.asdict(c) for c in command.co_chairs],
        version=1,
        participants=[
            orm.Participant(delegation=code, attendance=Attendance.INVITED.value, position=i)
            for i, code in enumerate(command.participants)
        ],
        plans=[
            orm.PlanUnderReview(plan_id=plan_id, position=i)
            for i, plan_id in enumerate(dict.fromkeys(command.plans_under_review))
        ],
        agenda_items=[_agenda_item(meeting_id, i, item) for i, item in enumerate(command.agenda)],
        postponements=[],
    )
    session.add(meeting)
    await session.flush()
    await events.outbox.add(session, events.scheduled(meeting), subject=events.subject(meeting.id))
    return meeting


async def _load_to_change(
    session: AsyncSession, meeting_id: uuid.UUID, expected_version: int | None
) -> orm.Meeting:
    """The meeting, locked; at the version the caller saw, when it said which (If-Match)."""
    meeting = await orm.load(session, orm.Meeting, meeting_id, lock=True)
    if expected_version is not None and expected_version != meeting.version:
        raise domain.StaleMeeting(expected=expected_version, current=meeting.version)
    return meeting


def _agenda_item(meeting_id: uuid.UUID, position: int, item: NewAgendaItem) -> orm.AgendaItem:
    return orm.AgendaItem(
        id=uuid.uuid4(),
        meeting_id=meeting_id,
        position=position,
        title=item.title,
        description=item.description,
        plan_ids=list(dict.fromkeys(item.plan_ids)),
        action_line_ids=list(dict.fromkeys(item.action_line_ids)),
    )


async def postpone_meeting(session: AsyncSession, command: PostponeMeeting) -> orm.Meeting:
    meeting = await _load_to_change(session, command.meeting_id, command.expected_version)
    domain.check_can_postpone(MeetingStatus(meeting.status))
    domain.check_schedule(command.starts_at, command.ends_at, meeting.timezone)
    postponement = orm.Postponement(
        meeting_id=meeting.id,
        old_starts_at=meeting.starts_at,
        old_ends_at=meeting.ends_at,
        new_starts_at=command.starts_at,
        new_ends_at=command.ends_at,
        reason=command.reason,
    )
    meeting.postponements.append(postponement)
    meeting.starts_at, meeting.ends_at = command.starts_at, command.ends_at
    meeting.version += 1
    await session.flush()
    event = events.postponed(meeting, postponement)
    await events.outbox.add(session, event, subject=events.subject(meeting.id))
    return meeting


async def start_meeting(session: AsyncSession, command: StartMeeting) -> orm.Meeting:
    meeting = await _load_to_change(session, command.meeting_id, command.expected_version)
    now = _move(meeting, MeetingStatus.IN_PROGRESS)
    meeting.started_at = now
    await _published_move(session, meeting, now)
    return meeting


async def cancel_meeting(session: AsyncSession, command: CancelMeeting) -> orm.Meeting:
    meeting = await _load_to_change(session, command.meeting_id, command.expected_version)
    now = _move(meeting, MeetingStatus.CANCELLED)
    meeting.cancelled_at, meeting.cancellation_reason = now, command.reason
    await _published_move(session, meeting, now)
    return meeting


def _move(meeting: orm.Meeting, requested: MeetingStatus) -> datetime:
    meeting.status = domain.transition(MeetingStatus(meeting.status), requested).value
    meeting.version += 1
    return datetime.now(UTC)


async def _published_move(session: AsyncSession, meeting: orm.Meeting, at: datetime) -> None:
    await session.flush()
    event = events.lifecycle_changed(meeting, at)
    await events.outbox.add(session, event, subject=events.subject(meeting.id))


async def set_attendance(session: AsyncSession, command: SetAttendance) -> orm.Meeting:
    """Record a delegation's attendance, adding it as a participant if it was not one."""
    meeting = await _load_to_change(session, command.meeting_id, command.expected_version)
    domain.check_can_change_arrangements(MeetingStatus(meeting.status))
    # A new participant must be a delegation notifications has announced.
    new = not any(p.delegation == command.delegation for p in meeting.participants)
    if new and not await _known_delegations(session, [command.delegation]):
        raise errors.NotFound("delegation", command.delegation)
    _record_attendance(meeting, command.delegation, command.attendance)
    meeting.version += 1
    await session.flush()
    return meeting


def _record_attendance(meeting: orm.Meeting, delegation: str, attendance: Attendance) -> None:
    participant = next((p for p in meeting.participants if p.delegation == delegation), None)
    if participant is None:
        meeting.participants.append(
            orm.Participant(
                delegation=delegation,
                attendance=attendance.value,
                position=len(meeting.participants),
            )
        )
    else:
        participant.attendance = attendance.value


async def _known_delegations(session: AsyncSession, codes: Sequence[str]) -> set[str]:
    """Which of these codes notifications has announced as registered delegations."""
    if not codes:
        return set()
    rows = await session.scalars(
        select(orm.KnownDelegation.code).where(orm.KnownDelegation.code.in_(list(codes)))
    )
    return set(rows)


async def add_agenda_item(session: AsyncSession, command: AddAgendaItem) -> orm.AgendaItem:
    meeting = await _load_to_change(session, command.meeting_id, command.expected_version)
    domain.check_can_change_arrangements(MeetingStatus(meeting.status))
    item = _agenda_item(meeting.id, len(meeting.agenda_items), command)
    meeting.agenda_items.append(item)
    meeting.version += 1
    await session.flush()
    return item


# --- decisions -------------------------------------------------------------------------------
# What each kind of decision says. Stored and published as the public contract's body
# (shared.contracts.meetings), which a status review completes with its effective date.


@dataclass(frozen=True, kw_only=True)
class ReviewedLine:
    """One line of a status review, named by its id or by its code (exactly one of the two)."""

    status: ActionLineStatus
    action_line_id: uuid.UUID | None = None
    code: str | None = None
    note: str | None = None
    effective_date: date | None = None  # the review's date when not said


@dataclass(frozen=True, kw_only=True)
class StatusReview:
    kind: ClassVar[DecisionKind] = DecisionKind.STATUS_REVIEW
    plan_id: uuid.UUID
    lines: Sequence[ReviewedLine]
    effective_date: date | None = None  # the meeting's date when not said


@dataclass(frozen=True, kw_only=True)
class PlanSubmission:
    kind: ClassVar[DecisionKind] = DecisionKind.PLAN_SUBMISSION
    plan_id: uuid.UUID
    submitted_to_meeting_id: uuid.UUID | None = None


@dataclass(frozen=True, kw_only=True)
class PlanApproval:
    kind: ClassVar[DecisionKind] = DecisionKind.PLAN_APPROVAL
    plan_id: uuid.UUID
    carry_over_unfinished: bool = True
    activate: bool = False


@dataclass(frozen=True, kw_only=True)
class Commitment:
    kind: ClassVar[DecisionKind] = DecisionKind.COMMITMENT
    party: str
    text: str
    tags: Sequence[str] = ()
    due_date: date | None = None


@dataclass(frozen=True, kw_only=True)
class Statement:
    kind: ClassVar[DecisionKind] = DecisionKind.STATEMENT
    text: str


DecisionBody = StatusReview | PlanSubmission | PlanApproval | Commitment | Statement


@dataclass(frozen=True, kw_only=True)
class NewDecision:
    """A decision as the meeting words it (adopted on its own, or at the meeting's close)."""

    title: str
    body: DecisionBody
    agenda_item_id: uuid.UUID | None = None


@dataclass(frozen=True, kw_only=True)
class AdoptDecision(NewDecision):
    meeting_id: uuid.UUID
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class ConcludeMeeting:
    meeting_id: uuid.UUID
    decisions: Sequence[NewDecision] = ()
    attendance: Sequence[tuple[str, Attendance]] = ()
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class FulfilCommitment:
    decision_id: uuid.UUID
    fulfilled_on: date
    note: str | None = None


async def adopt_decision(session: AsyncSession, command: AdoptDecision) -> orm.Decision:
    """Record a decision of a meeting in progress and publish it."""
    meeting = await _load_to_change(session, command.meeting_id, command.expected_version)
    return await _adopt(session, meeting, command)


async def conclude_meeting(session: AsyncSession, command: ConcludeMeeting) -> orm.Meeting:
    """Adopt the closing decisions, close the meeting, and freeze its briefing unless a
    status review still waits for the plans service (it is frozen when that answer comes)."""
    meeting = await _load_to_change(session, command.meeting_id, command.expected_version)
    for index, decision in enumerate(command.decisions):
        with _fields_under(f"decisions.{index}"):
            await _adopt(session, meeting, decision)
    attending = [delegation for delegation, _ in command.attendance]
    domain.check_attendance_once(attending)
    # Attendance may add a participant: like one invited, it must be a registered delegation.
    already = {p.delegation for p in meeting.participants}
    domain.unknown_participants(
        attending,
        already | await _known_delegations(session, attending),
        field="attendance.{index}.delegation",
    )
    for delegation, attendance in command.attendance:
        _record_attendance(meeting, delegation, attendance)
    now = _move(meeting, MeetingStatus.CONCLUDED)
    meeting.concluded_at = now
    await _published_move(session, meeting, now)
    await freeze_briefing_when_due(session, meeting)
    return meeting


async def _adopt(
    session: AsyncSession, meeting: orm.Meeting, decision: NewDecision
) -> orm.Decision:
    """The caller holds the meeting's row lock."""
    domain.check_can_decide(MeetingStatus(meeting.status))
    body = decision.body
    if decision.agenda_item_id is not None and decision.agenda_item_id not in {
        item.id for item in meeting.agenda_items
    }:
        raise errors.Invalid("agenda_item_id", "no such agenda item at this meeting")
    with _fields_under("body"):
        if isinstance(body, StatusReview):
            domain.check_status_review(
                body.plan_id,
                [p.plan_id for p in meeting.plans],
                [
                    domain.ReviewLineRef(line.action_line_id, line.code, line.effective_date)
                    for line in body.lines
                ],
                body.effective_date or domain.meeting_date(meeting.starts_at, meeting.timezone),
            )
            domain.check_review_date(
                body.effective_date or domain.meeting_date(meeting.starts_at, meeting.timezone),
                datetime.now(UTC),
            )
        if isinstance(body, PlanSubmission) and body.submitted_to_meeting_id is not None:
            await _check_submission_target(session, meeting, body.submitted_to_meeting_id)
    row = orm.Decision(
        id=uuid.uuid4(),
        meeting_id=meeting.id,
        agenda_item_id=decision.agenda_item_id,
        kind=body.kind.value,
        title=decision.title,
        body=_published_body(body, meeting),
        adopted_at=datetime.now(UTC),
        outcome=domain.initial_outcome(body.kind).value,
    )
    if isinstance(body, Commitment):
        row.party = body.party
        row.follow_up = domain.FollowUp.OPEN.value
    session.add(row)
    await session.flush()
    event = events.decision_adopted(meeting, row)
    await events.outbox.add(session, event, subject=events.subject(meeting.id))
    return row


_CONTRACT_BODY: TypeAdapter[contracts.DecisionBody] = TypeAdapter(contracts.DecisionBody)


def _published_body(body: DecisionBody, meeting: orm.Meeting) -> dict[str, Any]:
    """The decision's body as the public contract words it; a status review takes effect
    on the meeting's date unless it says otherwise, and each of its lines on the review's
    date unless the line says otherwise: the published review states every line's date."""
    fields = dataclasses.asdict(body)
    if isinstance(body, StatusReview):
        review_date = body.effective_date or domain.meeting_date(
            meeting.starts_at, meeting.timezone
        )
        fields["effective_date"] = review_date
        for line in fields["lines"]:
            line["effective_date"] = line["effective_date"] or review_date
    contract = _CONTRACT_BODY.validate_python({"kind": body.kind.value, **fields})
    return contract.model_dump(mode="json")


async def _check_submission_target(
    session: AsyncSession, meeting: orm.Meeting, target_id: uuid.UUID
) -> None:
    target = await session.get(orm.Meeting, target_id)
    if target is None:
        raise errors.NotFound("meeting", target_id, field="submitted_to_meeting_id")
    domain.check_submission_target(
        meeting.id, meeting.starts_at, target.id, MeetingStatus(target.status), target.starts_at
    )


@contextmanager
def _fields_under(prefix: str) -> Iterator[None]:
    """Name a refused field from the command's top: the rules of a decision's body speak of
    ``plan_id``, the command of ``body.plan_id`` (at its close, ``decisions.0.body.plan_id``)."""
    try:
        yield
    except (errors.Invalid, errors.NotFound) as exc:
        if exc.field is not None:
            exc.field = f"{prefix}.{exc.field}"
        raise


async def fulfil_commitment(session: AsyncSession, command: FulfilCommitment) -> orm.Decision:
    decision = await orm.load(session, orm.Decision, command.decision_id, lock=True)
    follow_up = domain.FollowUp(decision.follow_up) if decision.follow_up else None
    decision.follow_up = domain.fulfil(DecisionKind(decision.kind), follow_up).value
    decision.fulfilled_on, decision.fulfilment_note = command.fulfilled_on, command.note
    await session.flush()
    event = events.commitment_fulfilled(decision)
    await events.outbox.add(session, event, subject=events.subject(decision.meeting_id))
    return decision


# --- plans' answers to decisions -------------------------------------------------------------


@dataclass(frozen=True)
class RecordReviewResults:
    """What plans made of a status review, line by line."""

    decision_id: uuid.UUID
    results: Sequence[ReviewLineResult]


@dataclass(frozen=True)
class RecordPlanDecision:
    """Plans applied a plan submission or approval (``rejection`` is None) or refused it."""

    decision_id: uuid.UUID
    rejection: str | None = None


async def record_review_results(session: AsyncSession, command: RecordReviewResults) -> None:
    decision = await session.get(orm.Decision, command.decision_id, with_for_update=NO_KEY_UPDATE)
    if decision is None:
        return  # not one of ours (another deployment's meeting)
    results = [r.model_dump(mode="json") for r in command.results]
    decision.review_results = results
    decision.outcome = domain.review_outcome(r["outcome"] for r in results).value
    await session.flush()
    await freeze_briefing_when_due(
        session, await orm.load(session, orm.Meeting, decision.meeting_id)
    )


async def record_plan_decision(session: AsyncSession, command: RecordPlanDecision) -> None:
    decision = await session.get(orm.Decision, command.decision_id, with_for_update=NO_KEY_UPDATE)
    if decision is None or decision.kind not in (
        DecisionKind.PLAN_SUBMISSION,
        DecisionKind.PLAN_APPROVAL,
    ):
        return
    outcome = domain.Outcome.REJECTED if command.rejection else domain.Outcome.APPLIED
    decision.outcome = outcome.value
    decision.rejection_reason = command.rejection
    await session.flush()

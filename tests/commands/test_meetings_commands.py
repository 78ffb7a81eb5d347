"""The meetings service's command functions against its real database, without the service:
what each command records, what it stages in the outbox, and how it refuses, in the domain's
own words (the field a refusal names is its path in the command)."""

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings import consumers, handlers, orm
from services.meetings.domain import Attendance, ForbiddenTransition, WrongState
from shared.contracts.notifications import DelegationRegistered
from shared.contracts.plans import ReviewLineResult
from shared.errors import Invalid, NotFound
from shared.events import CloudEvent, envelope
from tests.commands.conftest import staged
from tests.support.plan_events import history_corrected, status_changed

pytestmark = pytest.mark.integration

EVENT = "org.accord.meetings."
START = datetime(2020, 9, 14, 23, 0, tzinfo=UTC)  # the 15th, 06:00, in Jakarta
PLAN = uuid.uuid4()


def scheduling(**changes: Any) -> handlers.ScheduleMeeting:
    fields: dict[str, Any] = {
        "series": f"CPR {uuid.uuid4()}",  # its own series: no previous meeting in the DB
        "title": "Annual meeting of the CPR with UN officials",
        "level": "Permanent Representatives",
        "format": "virtual",
        "starts_at": START,
        "ends_at": START + timedelta(hours=3),
        "timezone": "Asia/Jakarta",
        "participants": ["VNM", "UN"],
        "co_chairs": [handlers.CoChair("Nguyen Hai Bang", "Ambassador", "VNM")],
        "plans_under_review": [PLAN],
        "agenda": [handlers.NewAgendaItem(title="Review of the plan", plan_ids=[PLAN])],
    }
    return handlers.ScheduleMeeting(**(fields | changes))


async def events_of(session: AsyncSession, meeting_id: uuid.UUID) -> list[CloudEvent]:
    """What this meeting's commands staged, oldest first (the outbox may hold other tests')."""
    events = await staged(session, orm.outbox)
    return [e for e in events if e.subject == f"meetings/{meeting_id}"]


def types(events: Sequence[CloudEvent]) -> list[str]:
    return [e.type.removeprefix(EVENT) for e in events]


async def in_progress(session: AsyncSession) -> orm.Meeting:
    meeting = await handlers.schedule_meeting(session, scheduling())
    return await handlers.start_meeting(session, handlers.StartMeeting(meeting.id))


def review(*lines: handlers.ReviewedLine, plan_id: uuid.UUID = PLAN) -> handlers.StatusReview:
    return handlers.StatusReview(plan_id=plan_id, lines=lines)


def line(code: str, status: Any = "completed") -> handlers.ReviewedLine:
    return handlers.ReviewedLine(code=code, status=status)


async def test_scheduling_records_the_meeting_and_stages_meeting_scheduled_keyed_by_it(
    meetings_db: AsyncSession,
) -> None:
    meeting = await handlers.schedule_meeting(meetings_db, scheduling())

    assert meeting.status == "scheduled" and meeting.version == 1
    assert meeting.co_chairs == [
        {"name": "Nguyen Hai Bang", "title": "Ambassador", "delegation": "VNM"}
    ]
    assert [(p.delegation, p.attendance) for p in meeting.participants] == [
        ("VNM", "invited"),
        ("UN", "invited"),
    ]
    assert [i.title for i in meeting.agenda_items] == ["Review of the plan"]
    [event] = await events_of(meetings_db, meeting.id)
    assert event.type == EVENT + "meeting.scheduled"
    assert event.data["meeting_id"] == str(meeting.id)
    assert event.data["plans_under_review"] == [str(PLAN)]
    key = await meetings_db.scalar(
        select(orm.outbox.c.key).where(orm.outbox.c.event_id == uuid.UUID(event.id))
    )
    assert key == str(meeting.id)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ends_at": START - timedelta(hours=1)}, "ends_at"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"participants": ["VNM", "UN", "VNM"]}, "participants.2"),
        (
            {"co_chairs": [handlers.CoChair("A. Person", "Minister", "FRA")]},
            "co_chairs.0.delegation",
        ),
    ],
)
async def test_a_bad_meeting_is_refused_on_the_commands_field_and_nothing_is_staged(
    meetings_db: AsyncSession, changes: dict[str, Any], field: str
) -> None:
    command = scheduling(**changes)
    with pytest.raises(Invalid) as refused:
        await handlers.schedule_meeting(meetings_db, command)
    assert refused.value.field == field
    count = await meetings_db.scalar(
        select(func.count()).select_from(orm.Meeting).where(orm.Meeting.series == command.series)
    )
    assert count == 0


async def test_the_lifecycle_refuses_a_step_out_of_turn_with_what_is_allowed(
    meetings_db: AsyncSession,
) -> None:
    meeting = await handlers.schedule_meeting(meetings_db, scheduling())
    with pytest.raises(ForbiddenTransition) as refused:
        await handlers.conclude_meeting(
            meetings_db, handlers.ConcludeMeeting(meeting_id=meeting.id)
        )
    assert refused.value.allowed == ["cancelled", "in_progress"]

    await handlers.start_meeting(meetings_db, handlers.StartMeeting(meeting.id))
    with pytest.raises(WrongState, match="only a scheduled meeting"):
        await handlers.postpone_meeting(
            meetings_db,
            handlers.PostponeMeeting(
                meeting_id=meeting.id, starts_at=START, ends_at=START + timedelta(hours=1)
            ),
        )
    cancelled = await handlers.cancel_meeting(
        meetings_db, handlers.CancelMeeting(meeting.id, "storm")
    )
    assert (cancelled.status, cancelled.cancellation_reason) == ("cancelled", "storm")
    with pytest.raises(WrongState, match="can no longer change"):
        await handlers.set_attendance(
            meetings_db,
            handlers.SetAttendance(
                meeting_id=meeting.id, delegation="MMR", attendance=Attendance.PRESENT
            ),
        )
    with pytest.raises(WrongState, match="can no longer change"):
        await handlers.add_agenda_item(
            meetings_db, handlers.AddAgendaItem(meeting_id=meeting.id, title="Late item")
        )
    events = await events_of(meetings_db, meeting.id)
    assert types(events) == ["meeting.scheduled", "meeting.started", "meeting.cancelled"]
    assert events[-1].data["reason"] == "storm"


async def test_an_unknown_meeting_is_not_found(meetings_db: AsyncSession) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFound, match=f"meeting {missing} does not exist") as refused:
        await handlers.start_meeting(meetings_db, handlers.StartMeeting(missing))
    assert refused.value.field is None  # the object acted on, not a reference: a 404


async def test_postponing_keeps_the_old_dates_and_stages_them(meetings_db: AsyncSession) -> None:
    meeting = await handlers.schedule_meeting(meetings_db, scheduling())
    later = START + timedelta(days=14)
    with pytest.raises(Invalid) as refused:
        await handlers.postpone_meeting(
            meetings_db,
            handlers.PostponeMeeting(meeting_id=meeting.id, starts_at=later, ends_at=later),
        )
    assert refused.value.field == "ends_at"

    command = handlers.PostponeMeeting(
        meeting_id=meeting.id, starts_at=later, ends_at=later + timedelta(hours=2), reason="flu"
    )
    postponed = await handlers.postpone_meeting(meetings_db, command)

    assert (postponed.starts_at, postponed.version) == (later, 2)
    assert [(p.old_starts_at, p.new_starts_at) for p in postponed.postponements] == [(START, later)]
    event = (await events_of(meetings_db, meeting.id))[-1]
    assert event.type == EVENT + "meeting.postponed"
    assert datetime.fromisoformat(event.data["old_starts_at"]) == START
    assert event.data["reason"] == "flu"


async def test_attendance_adds_a_delegation_that_was_not_a_participant(
    meetings_db: AsyncSession,
) -> None:
    meeting = await handlers.schedule_meeting(meetings_db, scheduling())
    for delegation, attendance in (("UN", Attendance.PRESENT), ("MMR", Attendance.EXCUSED)):
        command = handlers.SetAttendance(
            meeting_id=meeting.id, delegation=delegation, attendance=attendance
        )
        meeting = await handlers.set_attendance(meetings_db, command)
    assert [(p.delegation, p.attendance) for p in meeting.participants] == [
        ("VNM", "invited"),
        ("UN", "present"),
        ("MMR", "excused"),
    ]
    assert meeting.version == 3


async def test_a_decision_is_adopted_only_at_a_meeting_in_progress(
    meetings_db: AsyncSession,
) -> None:
    meeting = await handlers.schedule_meeting(meetings_db, scheduling())
    statement = handlers.AdoptDecision(
        meeting_id=meeting.id, title="Hello", body=handlers.Statement(text="Too early")
    )
    with pytest.raises(WrongState, match="this one is scheduled"):
        await handlers.adopt_decision(meetings_db, statement)
    assert types(await events_of(meetings_db, meeting.id)) == ["meeting.scheduled"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (review(line("1.1"), plan_id=uuid.uuid4()), "body.plan_id"),
        (review(line("1.1"), line("1.2"), line("1.1")), "body.lines.2"),
        (review(handlers.ReviewedLine(status="completed")), "body.lines.0"),
    ],
    ids=["plan not under review", "line reviewed twice", "line named by neither id nor code"],
)
async def test_a_bad_status_review_is_refused_on_its_field_in_the_command(
    meetings_db: AsyncSession, body: handlers.StatusReview, field: str
) -> None:
    meeting = await in_progress(meetings_db)
    command = handlers.AdoptDecision(meeting_id=meeting.id, title="Review", body=body)
    with pytest.raises(Invalid) as refused:
        await handlers.adopt_decision(meetings_db, command)
    assert refused.value.field == field


async def test_a_submission_names_a_later_meeting_that_exists(meetings_db: AsyncSession) -> None:
    meeting = await in_progress(meetings_db)
    nowhere = uuid.uuid4()
    to_nowhere = handlers.AdoptDecision(
        meeting_id=meeting.id,
        title="Submit",
        body=handlers.PlanSubmission(plan_id=PLAN, submitted_to_meeting_id=nowhere),
    )
    with pytest.raises(NotFound, match=f"meeting {nowhere} does not exist") as missing:
        await handlers.adopt_decision(meetings_db, to_nowhere)
    assert missing.value.field == "body.submitted_to_meeting_id"  # a reference: a 422

    earlier = await handlers.schedule_meeting(
        meetings_db, scheduling(starts_at=START - timedelta(days=1), ends_at=START)
    )
    to_earlier = handlers.AdoptDecision(
        meeting_id=meeting.id,
        title="Submit",
        body=handlers.PlanSubmission(plan_id=PLAN, submitted_to_meeting_id=earlier.id),
    )
    with pytest.raises(Invalid, match="later meeting") as refused:
        await handlers.adopt_decision(meetings_db, to_earlier)
    assert refused.value.field == "body.submitted_to_meeting_id"

    with pytest.raises(Invalid) as no_item:
        await handlers.adopt_decision(
            meetings_db,
            handlers.AdoptDecision(
                meeting_id=meeting.id,
                title="Hello",
                body=handlers.Statement(text="Welcome"),
                agenda_item_id=uuid.uuid4(),
            ),
        )
    assert no_item.value.field == "agenda_item_id"


async def test_a_status_review_takes_effect_on_the_meetings_date_and_waits_for_plans(
    meetings_db: AsyncSession,
) -> None:
    meeting = await in_progress(meetings_db)
    command = handlers.AdoptDecision(
        meeting_id=meeting.id,
        title="Review of the plan",
        body=review(line("1.1"), line("1.2", "ongoing")),
        agenda_item_id=meeting.agenda_items[0].id,
    )
    decision = await handlers.adopt_decision(meetings_db, command)

    assert (decision.kind, decision.outcome) == ("status_review", "pending")
    assert decision.body == {
        "kind": "status_review",
        "plan_id": str(PLAN),
        "effective_date": "2020-09-15",  # the date in Jakarta
        "lines": [
            # Each line states its date: the review's, as no line said otherwise.
            {
                "action_line_id": None,
                "code": "1.1",
                "status": "completed",
                "note": None,
                "effective_date": "2020-09-15",
            },
            {
                "action_line_id": None,
                "code": "1.2",
                "status": "ongoing",
                "note": None,
                "effective_date": "2020-09-15",
            },
        ],
    }
    event = (await events_of(meetings_db, meeting.id))[-1]
    assert event.type == EVENT + "decision.adopted"
    assert event.data["decision_id"] == str(decision.id)
    assert event.data["body"]["effective_date"] == "2020-09-15"
    assert event.data["meeting_date"] == "2020-09-15"


async def test_concluding_freezes_the_briefing_once_plans_has_answered_every_review(
    meetings_db: AsyncSession,
) -> None:
    meeting = await in_progress(meetings_db)
    closing = handlers.NewDecision(title="Review", body=review(line("1.1"), line("1.2")))
    concluded = await handlers.conclude_meeting(
        meetings_db, handlers.ConcludeMeeting(meeting_id=meeting.id, decisions=[closing])
    )
    assert concluded.status == "concluded"
    assert types(await events_of(meetings_db, meeting.id))[-2:] == [
        "decision.adopted",
        "meeting.concluded",
    ]
    assert await meetings_db.get(orm.BriefingSnapshot, meeting.id) is None  # plans not heard

    decision_id = await meetings_db.scalar(
        select(orm.Decision.id).where(orm.Decision.meeting_id == meeting.id)
    )
    assert decision_id is not None
    results = [
        ReviewLineResult(action_line_id=None, code="1.1", status="completed", outcome="applied"),
        ReviewLineResult(
            action_line_id=None, code="1.2", status="completed", outcome="rejected", reason="?"
        ),
    ]
    await handlers.record_review_results(
        meetings_db, handlers.RecordReviewResults(decision_id, results)
    )

    decision = await meetings_db.get(orm.Decision, decision_id)
    assert decision is not None and decision.outcome == "partly_applied"
    snapshot = await meetings_db.get(orm.BriefingSnapshot, meeting.id)
    assert snapshot is not None
    assert snapshot.content["meeting_id"] == str(meeting.id)
    assert snapshot.content["pending_reviews"] == 0


async def test_a_refused_closing_decision_names_its_place_and_the_meeting_stays_open(
    meetings_db: AsyncSession,
) -> None:
    meeting = await in_progress(meetings_db)
    decisions = [
        handlers.NewDecision(title="Fine", body=handlers.Statement(text="Agreed")),
        handlers.NewDecision(title="Bad", body=review(line("1.1"), plan_id=uuid.uuid4())),
    ]
    with pytest.raises(Invalid) as refused:
        async with meetings_db.begin_nested():  # the route's unit of work, rolled back
            await handlers.conclude_meeting(
                meetings_db, handlers.ConcludeMeeting(meeting_id=meeting.id, decisions=decisions)
            )
    assert refused.value.field == "decisions.1.body.plan_id"
    await meetings_db.refresh(meeting)
    assert meeting.status == "in_progress"
    assert types(await events_of(meetings_db, meeting.id)) == [
        "meeting.scheduled",
        "meeting.started",
    ]


async def test_a_commitment_is_fulfilled_once_and_that_is_published(
    meetings_db: AsyncSession,
) -> None:
    meeting = await in_progress(meetings_db)
    commitment = await handlers.adopt_decision(
        meetings_db,
        handlers.AdoptDecision(
            meeting_id=meeting.id,
            title="Experts",
            body=handlers.Commitment(party="UN", text="Provide experts", tags=["cyber"]),
        ),
    )
    assert (commitment.party, commitment.follow_up, commitment.outcome) == (
        "UN",
        "open",
        "recorded",
    )
    fulfil = handlers.FulfilCommitment(
        decision_id=commitment.id, fulfilled_on=date(2021, 6, 30), note="Sent"
    )
    fulfilled = await handlers.fulfil_commitment(meetings_db, fulfil)

    assert (fulfilled.follow_up, fulfilled.fulfilled_on) == ("fulfilled", date(2021, 6, 30))
    event = (await events_of(meetings_db, meeting.id))[-1]
    assert event.type == EVENT + "commitment.fulfilled"
    assert (event.data["party"], event.data["text"]) == ("UN", "Provide experts")
    with pytest.raises(WrongState, match="already fulfilled"):
        await handlers.fulfil_commitment(meetings_db, fulfil)

    statement = await handlers.adopt_decision(
        meetings_db,
        handlers.AdoptDecision(
            meeting_id=meeting.id, title="S", body=handlers.Statement(text="Hi")
        ),
    )
    with pytest.raises(WrongState, match="only a commitment"):
        await handlers.fulfil_commitment(
            meetings_db,
            handlers.FulfilCommitment(decision_id=statement.id, fulfilled_on=date.today()),
        )
    with pytest.raises(NotFound, match="decision"):
        await handlers.fulfil_commitment(
            meetings_db,
            handlers.FulfilCommitment(decision_id=uuid.uuid4(), fulfilled_on=date.today()),
        )


async def test_plans_answer_to_a_plan_decision_settles_its_outcome(
    meetings_db: AsyncSession,
) -> None:
    meeting = await in_progress(meetings_db)
    adopted = []
    for body in (handlers.PlanApproval(plan_id=PLAN), handlers.PlanSubmission(plan_id=PLAN)):
        command = handlers.AdoptDecision(meeting_id=meeting.id, title="Plan", body=body)
        adopted.append(await handlers.adopt_decision(meetings_db, command))
    approval, submission = adopted
    assert approval.outcome == submission.outcome == "pending"

    await handlers.record_plan_decision(meetings_db, handlers.RecordPlanDecision(approval.id))
    await handlers.record_plan_decision(
        meetings_db, handlers.RecordPlanDecision(submission.id, rejection="not a draft")
    )
    # Not ours, or not a plan decision: nothing to record, and no error for the consumer.
    await handlers.record_plan_decision(meetings_db, handlers.RecordPlanDecision(uuid.uuid4()))

    assert (approval.outcome, approval.rejection_reason) == ("applied", None)
    assert (submission.outcome, submission.rejection_reason) == ("rejected", "not a draft")


async def test_a_participant_no_registered_delegation_has_is_refused_on_its_field(
    meetings_db: AsyncSession,
) -> None:
    with pytest.raises(Invalid) as refused:
        async with meetings_db.begin_nested():
            await handlers.schedule_meeting(
                meetings_db, scheduling(participants=["VNM", "UN", "ZZA", "ZZB"])
            )
    assert refused.value.field == "participants.2"
    assert "ZZA, ZZB" in refused.value.message

    meeting = await handlers.schedule_meeting(meetings_db, scheduling())
    with pytest.raises(NotFound):
        async with meetings_db.begin_nested():
            await handlers.set_attendance(
                meetings_db,
                handlers.SetAttendance(
                    meeting_id=meeting.id, delegation="ZZA", attendance=Attendance.PRESENT
                ),
            )

    # Once notifications announces the delegation, it can take part.
    announced = DelegationRegistered(delegation="ZZA", name="Zed", timezone="UTC")
    event = envelope(announced, source="/accord/notifications", subject="delegations/ZZA")
    await consumers.on_delegation_registered(meetings_db, event, announced)
    joined = await handlers.set_attendance(
        meetings_db,
        handlers.SetAttendance(
            meeting_id=meeting.id, delegation="ZZA", attendance=Attendance.PRESENT
        ),
    )
    assert [p.delegation for p in joined.participants] == ["VNM", "UN", "ZZA"]


async def test_attendance_at_the_conclusion_refuses_a_code_no_delegation_has(
    meetings_db: AsyncSession,
) -> None:
    """Found in review: concluding with attendance added unknown codes as participants (and
    published them), past the check that scheduling and set_attendance make."""
    meeting = await in_progress(meetings_db)
    attendance = [("VNM", Attendance.PRESENT), ("ZZQ", Attendance.PRESENT)]
    with pytest.raises(Invalid) as refused:
        async with meetings_db.begin_nested():
            await handlers.conclude_meeting(
                meetings_db,
                handlers.ConcludeMeeting(meeting_id=meeting.id, attendance=attendance),
            )
    assert refused.value.field == "attendance.1.delegation"
    assert "ZZQ" in refused.value.message
    concluded = await handlers.conclude_meeting(
        meetings_db,
        handlers.ConcludeMeeting(meeting_id=meeting.id, attendance=attendance[:1]),
    )
    vnm = next(p for p in concluded.participants if p.delegation == "VNM")
    assert vnm.attendance == "present"


async def test_a_correction_of_history_re_dates_the_change_in_the_read_model(
    meetings_db: AsyncSession,
) -> None:
    changed = status_changed(effective_date=date(2020, 9, 15), version=2)
    await consumers.on_status_changed(
        meetings_db, envelope(changed, source="/accord/plans", subject="x"), changed
    )
    corrected = history_corrected(
        plan_id=changed.plan_id, action_line_id=changed.action_line_id, entry_version=2, version=3
    )
    await consumers.on_history_corrected(
        meetings_db, envelope(corrected, source="/accord/plans", subject="x"), corrected
    )
    dates = await meetings_db.scalars(
        select(orm.KnownStatusChange.effective_date).where(
            orm.KnownStatusChange.action_line_id == changed.action_line_id
        )
    )
    assert list(dates) == [date(2019, 6, 30)]
    line = await meetings_db.get(orm.KnownActionLine, changed.action_line_id)
    assert line is not None and line.version == 3


async def test_the_read_model_of_a_line_keeps_its_first_status_and_its_newest_change(
    meetings_db: AsyncSession,
) -> None:
    # A line first seen through a status change started in its old status; a newer change
    # moves it; an older one replayed after it does not move it back.
    first = status_changed(old_status="not_started", new_status="ongoing", version=2)
    line = {"plan_id": first.plan_id, "action_line_id": first.action_line_id}
    newer = status_changed(**line, old_status="ongoing", new_status="completed", version=3)
    for event in (first, newer, first):
        await consumers.on_status_changed(
            meetings_db, envelope(event, source="/accord/plans", subject="x"), event
        )
    known = await meetings_db.get(orm.KnownActionLine, first.action_line_id)
    assert known is not None
    await meetings_db.refresh(known)
    assert (known.initial_status, known.status, known.version) == ("not_started", "completed", 3)

"""HTTP routes of the meetings service: parse, build a command, call the handler, answer.

The secretariat records meetings and decisions; delegations and viewers read them.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from services.meetings import domain, handlers, orm, views
from services.meetings.schemas import (
    CONFLICT,
    NOT_FOUND,
    STALE,
    AgendaItemCreate,
    AgendaItemRead,
    AttendanceUpdate,
    Cancel,
    Conclude,
    DecisionBodyIn,
    DecisionCreate,
    DecisionRead,
    DelegationCode,
    Fulfil,
    MeetingCreate,
    MeetingId,
    MeetingRead,
    Postpone,
    StatusReviewIn,
)
from shared.auth import AnyPrincipal, Secretariat
from shared.http import IfMatch, optional_if_match, read_only, unit_of_work
from shared.pagination import Cursor, Limit, Page
from shared.problems import etag
from shared.schemas import UtcDatetime

router = APIRouter(tags=["meetings"])


def _tagged(response: Response, meeting: orm.Meeting) -> MeetingRead:
    """The meeting as answered, its version as the answer's ETag (for the next If-Match)."""
    response.headers["ETag"] = etag(meeting.version)
    return views.meeting_read(meeting)


@router.post(
    "/meetings", status_code=status.HTTP_201_CREATED, response_model=MeetingRead, tags=["meetings"]
)
async def schedule_meeting(
    body: MeetingCreate, request: Request, response: Response, principal: Secretariat
) -> MeetingRead:
    """Schedule a meeting. Times carry their UTC offset and the meeting its IANA time zone;
    every co-chair's delegation must be a participant. Publishes `meeting.scheduled`."""
    command = handlers.ScheduleMeeting(
        **body.model_dump(exclude={"co_chairs", "agenda"}),
        co_chairs=[handlers.CoChair(**c.model_dump()) for c in body.co_chairs],
        agenda=[handlers.NewAgendaItem(**item.model_dump()) for item in body.agenda],
    )
    async with unit_of_work(request) as session:
        meeting = await handlers.schedule_meeting(session, command)
    return _tagged(response, meeting)


@router.get("/meetings", response_model=Page[MeetingRead])
async def list_meetings(
    request: Request,
    principal: AnyPrincipal,
    series: Annotated[str | None, Query(max_length=500, examples=["ASEAN-UN CPR meeting"])] = None,
    starts_from: Annotated[
        UtcDatetime | None, Query(description="Meetings starting at or after this time")
    ] = None,
    starts_before: Annotated[
        UtcDatetime | None, Query(description="Meetings starting before this time")
    ] = None,
    participant: Annotated[
        str | None, Query(max_length=10, description="A participating delegation, e.g. VNM")
    ] = None,
    plan_id: Annotated[uuid.UUID | None, Query(description="A plan under review")] = None,
    meeting_status: Annotated[
        list[domain.MeetingStatus] | None, Query(alias="status", max_length=4)
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MeetingRead]:
    """Meetings in chronological order, filtered by series, date range, participant, plan
    under review and status."""
    where = views.MeetingFilter(
        series=series,
        starts_from=starts_from,
        starts_before=starts_before,
        participant=participant,
        plan_id=plan_id,
        statuses=meeting_status or (),
    )
    async with read_only(request) as session:
        return await views.meetings_page(session, where, limit=limit, cursor=cursor)


@router.get("/meetings/upcoming", response_model=Page[MeetingRead])
async def upcoming_meetings(
    request: Request,
    principal: AnyPrincipal,
    participant: Annotated[str | None, Query(max_length=10)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MeetingRead]:
    """Meetings not over yet (scheduled or in progress), soonest first."""
    where = views.MeetingFilter(
        participant=participant,
        ends_after=datetime.now(UTC),
        statuses=(domain.MeetingStatus.SCHEDULED, domain.MeetingStatus.IN_PROGRESS),
    )
    async with read_only(request) as session:
        return await views.meetings_page(session, where, limit=limit, cursor=cursor)


@router.get("/meetings/{meeting_id}", response_model=MeetingRead, responses=NOT_FOUND)
async def read_meeting(
    meeting_id: MeetingId, request: Request, response: Response, principal: AnyPrincipal
) -> MeetingRead:
    """A meeting with its co-chairs, participants, plans under review, agenda and
    postponements. Its `ETag` is its version: send it as `If-Match` with a change to make
    the change only if nobody changed the meeting meanwhile (412 otherwise)."""
    async with read_only(request) as session:
        meeting = await views.meeting_by_id(session, meeting_id)
    response.headers["ETag"] = etag(meeting.version)
    return meeting


@router.post(
    "/meetings/{meeting_id}/postpone",
    response_model=MeetingRead,
    responses=NOT_FOUND | CONFLICT | STALE,
)
async def postpone_meeting(
    meeting_id: MeetingId,
    body: Postpone,
    request: Request,
    response: Response,
    principal: Secretariat,
    if_match: IfMatch = None,
) -> MeetingRead:
    """Move a scheduled meeting to new times; the old ones are kept in `postponements`.
    Publishes `meeting.postponed`."""
    command = handlers.PostponeMeeting(
        meeting_id=meeting_id, **body.model_dump(), expected_version=optional_if_match(if_match)
    )
    async with unit_of_work(request) as session:
        meeting = await handlers.postpone_meeting(session, command)
    return _tagged(response, meeting)


@router.post(
    "/meetings/{meeting_id}/start",
    response_model=MeetingRead,
    responses=NOT_FOUND | CONFLICT | STALE,
)
async def start_meeting(
    meeting_id: MeetingId,
    request: Request,
    response: Response,
    principal: Secretariat,
    if_match: IfMatch = None,
) -> MeetingRead:
    """Open a scheduled meeting: from now on it can adopt decisions. Publishes
    `meeting.started`."""
    command = handlers.StartMeeting(meeting_id, optional_if_match(if_match))
    async with unit_of_work(request) as session:
        meeting = await handlers.start_meeting(session, command)
    return _tagged(response, meeting)


@router.post(
    "/meetings/{meeting_id}/conclude",
    response_model=MeetingRead,
    responses=NOT_FOUND | CONFLICT | STALE,
)
async def conclude_meeting(
    meeting_id: MeetingId,
    request: Request,
    response: Response,
    principal: Secretariat,
    body: Conclude | None = None,
    if_match: IfMatch = None,
) -> MeetingRead:
    """Close a meeting in progress, adopting the closing `decisions` first (all or nothing).
    Its briefing is frozen as an immutable snapshot, at once or, when a status review still
    waits for the plans service's answer, as soon as that answer arrives. Publishes
    `decision.adopted` for each decision, then `meeting.concluded`."""
    decisions = [
        handlers.NewDecision(
            title=d.title, body=_decision_body(d.body), agenda_item_id=d.agenda_item_id
        )
        for d in (body.decisions if body is not None else [])
    ]
    command = handlers.ConcludeMeeting(
        meeting_id=meeting_id,
        decisions=decisions,
        attendance=[(a.delegation, a.attendance) for a in body.attendance] if body else [],
        expected_version=optional_if_match(if_match),
    )
    async with unit_of_work(request) as session:
        meeting = await handlers.conclude_meeting(session, command)
    return _tagged(response, meeting)


@router.post(
    "/meetings/{meeting_id}/cancel",
    response_model=MeetingRead,
    responses=NOT_FOUND | CONFLICT | STALE,
)
async def cancel_meeting(
    meeting_id: MeetingId,
    request: Request,
    response: Response,
    principal: Secretariat,
    body: Cancel | None = None,
    if_match: IfMatch = None,
) -> MeetingRead:
    """Call off a meeting that is scheduled or in progress. Publishes `meeting.cancelled`."""
    command = handlers.CancelMeeting(
        meeting_id, body.reason if body else None, optional_if_match(if_match)
    )
    async with unit_of_work(request) as session:
        meeting = await handlers.cancel_meeting(session, command)
    return _tagged(response, meeting)


@router.put(
    "/meetings/{meeting_id}/participants/{delegation}",
    response_model=MeetingRead,
    responses=NOT_FOUND | CONFLICT | STALE,
)
async def set_attendance(
    meeting_id: MeetingId,
    delegation: Annotated[DelegationCode, Path()],
    body: AttendanceUpdate,
    request: Request,
    response: Response,
    principal: Secretariat,
    if_match: IfMatch = None,
) -> MeetingRead:
    """Record a delegation's attendance (invited, present, absent, excused), adding it as
    a participant if it was not one yet."""
    command = handlers.SetAttendance(
        meeting_id=meeting_id,
        delegation=delegation,
        attendance=body.attendance,
        expected_version=optional_if_match(if_match),
    )
    async with unit_of_work(request) as session:
        meeting = await handlers.set_attendance(session, command)
    return _tagged(response, meeting)


@router.post(
    "/meetings/{meeting_id}/agenda-items",
    status_code=status.HTTP_201_CREATED,
    response_model=AgendaItemRead,
    responses=NOT_FOUND | CONFLICT | STALE,
)
async def add_agenda_item(
    meeting_id: MeetingId,
    body: AgendaItemCreate,
    request: Request,
    principal: Secretariat,
    if_match: IfMatch = None,
) -> AgendaItemRead:
    """Add an agenda item, optionally linked to plans and action lines."""
    command = handlers.AddAgendaItem(
        meeting_id=meeting_id, **body.model_dump(), expected_version=optional_if_match(if_match)
    )
    async with unit_of_work(request) as session:
        item = await handlers.add_agenda_item(session, command)
    return AgendaItemRead.model_validate(item)


@router.post(
    "/meetings/{meeting_id}/decisions",
    status_code=status.HTTP_201_CREATED,
    response_model=DecisionRead,
    responses=NOT_FOUND | CONFLICT | STALE,
    tags=["decisions"],
)
async def adopt_decision(
    meeting_id: MeetingId,
    body: DecisionCreate,
    request: Request,
    principal: Secretariat,
    if_match: IfMatch = None,
) -> DecisionRead:
    """Record a decision adopted at a meeting in progress: a status review (of a plan under
    review; effective as of the meeting's date unless said otherwise, and each line as of its
    own `effective_date` if it has one, such as a reported completion date), a plan submission
    (to a later scheduled meeting), a plan approval, a commitment or a statement. Publishes
    `decision.adopted`; what it changes in plans, the plans service applies and answers,
    and the decision's `outcome` follows that answer."""
    command = handlers.AdoptDecision(
        meeting_id=meeting_id,
        title=body.title,
        body=_decision_body(body.body),
        agenda_item_id=body.agenda_item_id,
        expected_version=optional_if_match(if_match),
    )
    async with unit_of_work(request) as session:
        adopted = await handlers.adopt_decision(session, command)
    return views.decision_read(adopted)


@router.get(
    "/meetings/{meeting_id}/decisions",
    response_model=Page[DecisionRead],
    responses=NOT_FOUND,
    tags=["decisions"],
)
async def list_meeting_decisions(
    meeting_id: MeetingId,
    request: Request,
    principal: AnyPrincipal,
    kind: domain.DecisionKind | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DecisionRead]:
    """A meeting's decisions in the order they were adopted; `kind=commitment` for its
    commitments."""
    async with read_only(request) as session:
        return await views.decisions_page(
            session, limit=limit, cursor=cursor, meeting_id=meeting_id, kind=kind
        )


@router.get(
    "/decisions/{decision_id}",
    response_model=DecisionRead,
    responses=NOT_FOUND,
    tags=["decisions"],
)
async def read_decision(
    decision_id: uuid.UUID, request: Request, principal: AnyPrincipal
) -> DecisionRead:
    """A decision, with what the plans service made of it (`outcome`, rejected review lines)."""
    async with read_only(request) as session:
        return await views.decision_by_id(session, decision_id)


@router.get("/commitments", response_model=Page[DecisionRead], tags=["decisions"])
async def list_commitments(
    request: Request,
    principal: AnyPrincipal,
    party: Annotated[str | None, Query(max_length=100, examples=["UN"])] = None,
    follow_up: Annotated[
        domain.FollowUp | None, Query(description="`open` for the commitments still due")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DecisionRead]:
    """Commitments made at meetings, by party and follow-up (e.g. the UN's open ones)."""
    async with read_only(request) as session:
        return await views.decisions_page(
            session,
            limit=limit,
            cursor=cursor,
            kind=domain.DecisionKind.COMMITMENT,
            party=party,
            follow_up=follow_up,
        )


@router.post(
    "/commitments/{decision_id}/fulfil",
    response_model=DecisionRead,
    responses=NOT_FOUND | CONFLICT,
    tags=["decisions"],
)
async def fulfil_commitment(
    decision_id: uuid.UUID, body: Fulfil, request: Request, principal: Secretariat
) -> DecisionRead:
    """Mark a commitment fulfilled. Publishes `commitment.fulfilled`."""
    command = handlers.FulfilCommitment(decision_id=decision_id, **body.model_dump())
    async with unit_of_work(request) as session:
        decision = await handlers.fulfil_commitment(session, command)
    return views.decision_read(decision)


# --- request -> command ----------------------------------------------------------------------

_BODIES: dict[str, Callable[..., handlers.DecisionBody]] = {
    body.kind: body
    for body in (
        handlers.StatusReview,
        handlers.PlanSubmission,
        handlers.PlanApproval,
        handlers.Commitment,
        handlers.Statement,
    )
}


def _decision_body(body: DecisionBodyIn) -> handlers.DecisionBody:
    fields = body.model_dump(exclude={"kind"})
    if isinstance(body, StatusReviewIn):
        fields["lines"] = [handlers.ReviewedLine(**line) for line in fields["lines"]]
    return _BODIES[body.kind](**fields)

"""HTTP request and response models of the meetings service (the briefing's are in
``briefings/schemas.py``), and the path parameter and problem responses its routes share."""

import datetime as dt
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import AfterValidator, Field, StrictBool, StringConstraints

from services.meetings.domain import Attendance, FollowUp, MeetingStatus, Outcome, zone
from shared.auth import DELEGATION_CODE
from shared.contracts.meetings import CoChair, DecisionBody, MeetingFormat
from shared.contracts.plans import ActionLineStatus, ReviewLineResult
from shared.problems import documented
from shared.schemas import RequestModel, ResponseModel, UtcDatetime

Text500 = Annotated[str, StringConstraints(min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100)]
DelegationCode = Annotated[
    str,
    StringConstraints(pattern=DELEGATION_CODE.pattern),
    Field(description="ISO 3166 alpha-3 for states (VNM, MMR), or UN, ASEC...", examples=["VNM"]),
]


def _iana_zone(name: str) -> str:
    zone(name)
    return name


TimeZoneName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_iana_zone),
    Field(description="IANA time zone of the meeting's place", examples=["Asia/Jakarta"]),
]
StartsAt = Annotated[
    UtcDatetime,
    Field(
        description="With its UTC offset; a time without one is refused",
        examples=["2020-09-15T09:00:00+07:00"],
    ),
]
EndsAt = Annotated[UtcDatetime, Field(examples=["2020-09-15T12:00:00+07:00"])]


class CoChairIn(RequestModel):
    name: Text500 = Field(examples=["Nguyen Hai Bang"])
    title: Text500 = Field(examples=["Ambassador, Permanent Representative of Viet Nam to ASEAN"])
    delegation: DelegationCode


class AgendaItemCreate(RequestModel):
    title: Text500 = Field(examples=["Review of the ASEAN-UN Plan of Action 2016-2020"])
    description: LongText | None = None
    plan_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    action_line_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)


class MeetingCreate(RequestModel):
    series: Text500 = Field(
        description="The body or series the meeting belongs to", examples=["ASEAN-UN CPR meeting"]
    )
    title: Text500 = Field(examples=["Annual meeting of the CPR with UN officials, 2020"])
    level: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        examples=["Permanent Representatives"]
    )
    format: MeetingFormat = Field(examples=["virtual"])
    starts_at: StartsAt
    ends_at: EndsAt
    timezone: TimeZoneName
    place: Text500 | None = Field(default=None, examples=["Videoconference, hosted from Jakarta"])
    participants: list[DelegationCode] = Field(
        default_factory=list, max_length=200, examples=[["VNM", "MMR", "UN", "ASEC"]]
    )
    co_chairs: list[CoChairIn] = Field(
        default_factory=list, max_length=10, description="Each must be a participant's delegate"
    )
    plans_under_review: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    agenda: list[AgendaItemCreate] = Field(default_factory=list, max_length=100)


class Postpone(RequestModel):
    starts_at: StartsAt
    ends_at: EndsAt
    reason: LongText | None = Field(default=None, examples=["Travel restrictions"])


class Cancel(RequestModel):
    reason: LongText | None = None


class AttendanceUpdate(RequestModel):
    attendance: Attendance = Field(examples=["present"])


# --- decisions -----------------------------------------------------------------------------


class ReviewedLineIn(RequestModel):
    """One line of a review, named by its id or by its code (exactly one of the two)."""

    action_line_id: uuid.UUID | None = None
    code: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = Field(
        default=None, examples=["1.2.3"]
    )
    status: ActionLineStatus = Field(examples=["completed"])
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None
    effective_date: date | None = Field(
        default=None,
        description="When this line's status took effect (a reported completion date); the "
        "review's `effective_date` when not said, and never after it",
        examples=["2019-11-04"],
    )


class StatusReviewIn(RequestModel):
    kind: Literal["status_review"]
    plan_id: uuid.UUID
    effective_date: date | None = Field(
        default=None,
        description="When the reported statuses took effect, for every line without a date "
        "of its own; the meeting's date (in its time zone) when not said",
    )
    lines: list[ReviewedLineIn] = Field(min_length=1, max_length=2000)


class PlanSubmissionIn(RequestModel):
    kind: Literal["plan_submission"]
    plan_id: uuid.UUID
    submitted_to_meeting_id: uuid.UUID | None = Field(
        default=None, description="The later meeting (e.g. a ministerial) that is to approve it"
    )


class PlanApprovalIn(RequestModel):
    kind: Literal["plan_approval"]
    plan_id: uuid.UUID
    carry_over_unfinished: StrictBool = True
    activate: StrictBool = False


class CommitmentIn(RequestModel):
    kind: Literal["commitment"]
    party: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(examples=["UN"])
    text: LongText = Field(
        examples=["Provide experts on counter-terrorism, transnational crime and cyber security"]
    )
    tags: list[Tag] = Field(default_factory=list, max_length=20, examples=[["counter-terrorism"]])
    due_date: date | None = None


class StatementIn(RequestModel):
    kind: Literal["statement"]
    text: LongText = Field(examples=["The meeting agreed to further advance the partnership."])


DecisionBodyIn = Annotated[
    StatusReviewIn | PlanSubmissionIn | PlanApprovalIn | CommitmentIn | StatementIn,
    Field(discriminator="kind"),
]


class DecisionCreate(RequestModel):
    title: Text500 = Field(examples=["Review of the Plan of Action 2016-2020"])
    agenda_item_id: uuid.UUID | None = None
    body: DecisionBodyIn = Field(
        examples=[
            {
                "kind": "status_review",
                "plan_id": "0b6a3c1e-8c1f-4a5e-9d43-2f1f7d2c9a10",
                "lines": [{"code": "1.2.3", "status": "completed"}],
            }
        ]
    )


class AttendanceAt(RequestModel):
    delegation: DelegationCode
    attendance: Attendance = Field(examples=["present"])


class Conclude(RequestModel):
    decisions: list[DecisionCreate] = Field(
        default_factory=list,
        max_length=50,
        description="Decisions adopted at the conclusion, recorded before the meeting closes",
    )
    attendance: list[AttendanceAt] = Field(
        default_factory=list,
        max_length=200,
        description="Who attended: each delegation's attendance as the meeting closes (a "
        "delegation not yet a participant is added); published with `meeting.concluded`",
        examples=[[{"delegation": "VNM", "attendance": "present"}]],
    )


class Fulfil(RequestModel):
    fulfilled_on: date = Field(examples=["2021-06-30"])
    note: LongText | None = None


# --- responses -----------------------------------------------------------------------------


class ParticipantRead(ResponseModel):
    delegation: str
    attendance: Attendance


class AgendaItemRead(ResponseModel):
    id: uuid.UUID
    position: int
    title: str
    description: str | None
    plan_ids: list[uuid.UUID]
    action_line_ids: list[uuid.UUID]


class PostponementRead(ResponseModel):
    old_starts_at: datetime
    old_ends_at: datetime
    new_starts_at: datetime
    new_ends_at: datetime
    reason: str | None
    postponed_at: datetime


class MeetingRead(ResponseModel):
    id: uuid.UUID
    series: str
    title: str
    level: str
    format: MeetingFormat
    starts_at: datetime
    ends_at: datetime
    timezone: str
    date: dt.date = Field(description="The meeting's date where it is held")
    place: str | None
    status: MeetingStatus
    co_chairs: list[CoChair]
    participants: list[ParticipantRead]
    plans_under_review: list[uuid.UUID]
    agenda: list[AgendaItemRead]
    postponements: list[PostponementRead]
    started_at: datetime | None
    concluded_at: datetime | None
    cancelled_at: datetime | None
    cancellation_reason: str | None
    version: int


class DecisionRead(ResponseModel):
    id: uuid.UUID
    meeting_id: uuid.UUID
    agenda_item_id: uuid.UUID | None
    kind: str
    title: str
    body: DecisionBody
    adopted_at: datetime
    outcome: Outcome = Field(
        description="recorded (nothing to apply), or what plans made of it: pending, applied, "
        "partly_applied, rejected"
    )
    rejection_reason: str | None = None
    review_results: list[ReviewLineResult] | None = None
    rejected_lines: list[ReviewLineResult] = Field(
        default_factory=list, description="The review lines plans refused, with the reason"
    )
    follow_up: FollowUp | None = Field(default=None, description="Commitments only")
    fulfilled_on: date | None = None
    fulfilment_note: str | None = None


# --- what several routes share -------------------------------------------------------------

MeetingId = Annotated[uuid.UUID, Path(description="The meeting's id")]

# The problems routes document besides the common ones (shared.problems.COMMON_RESPONSES).
NOT_FOUND = documented(404, "No such meeting or decision")
STALE = documented(412, "`If-Match` names a version of the meeting that is not current")
CONFLICT = documented(
    409,
    "The meeting's state does not allow this (e.g. a decision on a meeting "
    "that is not in progress); `allowed` lists the possible next states",
)

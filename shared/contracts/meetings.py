"""Events published by the meetings service on ``accord.meetings.events``.

All are keyed by meeting id. A decision that changes another service's data (a status
review, a plan submission or approval) is only a request here: the plans service applies
it when it consumes ``DecisionAdopted`` and answers with its own events.
"""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from shared.contracts.plans import ActionLineStatus
from shared.events import EventContract, contract

SOURCE = "/accord/meetings"

MeetingFormat = Literal["in_person", "virtual", "hybrid"]


class CoChair(BaseModel):
    name: str
    title: str
    delegation: str


@contract
class MeetingScheduled(EventContract):
    event_type = "org.accord.meetings.meeting.scheduled"

    meeting_id: uuid.UUID
    series: str
    title: str
    level: str
    format: MeetingFormat
    starts_at: datetime
    ends_at: datetime
    timezone: str
    place: str | None = None
    co_chairs: list[CoChair] = Field(default_factory=list)
    participants: list[str] = Field(default_factory=list)
    plans_under_review: list[uuid.UUID] = Field(default_factory=list)


@contract
class MeetingPostponed(EventContract):
    event_type = "org.accord.meetings.meeting.postponed"

    meeting_id: uuid.UUID
    series: str
    title: str
    old_starts_at: datetime
    starts_at: datetime
    ends_at: datetime
    timezone: str
    reason: str | None = None


class MeetingLifecycleChanged(EventContract):
    meeting_id: uuid.UUID
    series: str
    title: str
    starts_at: datetime
    timezone: str
    at: datetime


@contract
class MeetingStarted(MeetingLifecycleChanged):
    event_type = "org.accord.meetings.meeting.started"


class Attendee(BaseModel):
    delegation: str
    attendance: Literal["invited", "present", "absent", "excused"]


@contract
class MeetingConcluded(MeetingLifecycleChanged):
    """A meeting in progress was closed; its participants' attendance as recorded then."""

    event_type = "org.accord.meetings.meeting.concluded"
    # Optional (docs/decisions/0005): absent in events published before it was added.
    attendance: list[Attendee] = Field(default_factory=list)
    # Optional too: the plans the meeting reviewed, so that plans can publish (and keep) the
    # figures of each as of the meeting's date (docs/decisions/0032).
    plans_under_review: list[uuid.UUID] = Field(default_factory=list)


@contract
class MeetingCancelled(MeetingLifecycleChanged):
    event_type = "org.accord.meetings.meeting.cancelled"
    reason: str | None = None


class ReviewedLine(BaseModel):
    """One line of a status review, named by id or by its code within the plan."""

    action_line_id: uuid.UUID | None = None
    code: str | None = None
    status: ActionLineStatus
    note: str | None = None
    # Added in version 1 as an optional field (docs/decisions/0005): absent in older events,
    # where every line takes the review's date.
    effective_date: date | None = Field(
        default=None,
        description="When this line's reported status took effect (e.g. a completion "
        "reported at the meeting but reached earlier); the review's effective_date when absent",
    )


class StatusReview(BaseModel):
    kind: Literal["status_review"] = "status_review"
    plan_id: uuid.UUID
    effective_date: date
    lines: list[ReviewedLine]


class PlanSubmission(BaseModel):
    kind: Literal["plan_submission"] = "plan_submission"
    plan_id: uuid.UUID
    submitted_to_meeting_id: uuid.UUID | None = None


class PlanApproval(BaseModel):
    kind: Literal["plan_approval"] = "plan_approval"
    plan_id: uuid.UUID
    carry_over_unfinished: bool = True
    activate: bool = False


class Commitment(BaseModel):
    kind: Literal["commitment"] = "commitment"
    party: str
    text: str
    tags: list[str] = Field(default_factory=list)
    due_date: date | None = None


class Statement(BaseModel):
    kind: Literal["statement"] = "statement"
    text: str


DecisionBody = Annotated[
    StatusReview | PlanSubmission | PlanApproval | Commitment | Statement,
    Field(discriminator="kind"),
]


@contract
class DecisionAdopted(EventContract):
    """A decision adopted at a meeting, with everything a subscriber needs to render it."""

    event_type = "org.accord.meetings.decision.adopted"

    meeting_id: uuid.UUID
    series: str
    meeting_title: str
    meeting_date: date
    decision_id: uuid.UUID
    title: str
    body: DecisionBody
    adopted_at: datetime


@contract
class CommitmentFulfilled(EventContract):
    event_type = "org.accord.meetings.commitment.fulfilled"

    meeting_id: uuid.UUID
    decision_id: uuid.UUID
    party: str
    text: str
    fulfilled_on: date

"""Events published by the notifications service on ``accord.notifications.events``.

All are keyed by the delegation code, so one delegation's events keep their order.
"""

import datetime as dt
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.events import EventContract, contract

SOURCE = "/accord/notifications"


@contract
class DelegationRegistered(EventContract):
    """A delegation was registered: its code is now one that meetings accept as a
    participant (meetings keeps a read model of these)."""

    event_type = "org.accord.notifications.delegation.registered"

    delegation: str
    name: str
    timezone: str


@contract
class EndpointDisablingSoon(EventContract):
    """A webhook endpoint has been failing for a while and will be disabled at ``disable_at``
    unless a delivery succeeds first. Emitted once per failing streak, before any disabling."""

    event_type = "org.accord.notifications.endpoint.disabling_soon"

    delegation: str
    endpoint_id: uuid.UUID
    url: str
    failing_since: datetime
    disable_at: datetime


@contract
class EndpointDisabled(EventContract):
    """A webhook endpoint was disabled: it answered 410 Gone (``gone``) or kept failing for the
    configured window (``failing``). Nothing is sent to it until it is re-enabled."""

    event_type = "org.accord.notifications.endpoint.disabled"

    delegation: str
    endpoint_id: uuid.UUID
    url: str
    reason: Literal["gone", "failing"]
    disabled_at: datetime


class DigestEntry(BaseModel):
    """One event held for the digest, as its inbox entry would have said it."""

    event_id: str
    event_type: str
    occurred_at: datetime
    title: str


class DigestMeeting(BaseModel):
    meeting_id: uuid.UUID
    series: str
    title: str
    starts_at: datetime
    date: dt.date = Field(description="The meeting's date in the delegation's time zone")


class DigestPlanFigures(BaseModel):
    """A plan under review, counted from notifications' read model of its lines on the
    digest's day."""

    plan_id: uuid.UUID
    code: str
    title: str
    lines: int
    completed: int
    by_status: dict[str, int]


class DigestLineChange(BaseModel):
    action_line_id: uuid.UUID
    code: str
    old_status: str
    new_status: str
    effective_date: dt.date


class DigestSincePrevious(BaseModel):
    """What changed in the plans under review since the previous meeting of the series."""

    meeting_id: uuid.UUID
    title: str
    date: dt.date = Field(description="The previous meeting's date in its time zone")
    lines_changed: int
    changes: list[DigestLineChange] = Field(
        description="Each line's change from its status then to its status now (at most 50)"
    )


@contract
class DigestReady(EventContract):
    """A delegation's digest: the events held for its daily digest (from its digest hour in
    its time zone), or, the day before a meeting of a series it follows, what was held for
    that meeting with the plans' figures and what changed since the previous meeting. Sent
    by webhook and to the inbox; published once per (delegation, period)."""

    event_type = "org.accord.notifications.digest.ready"

    delegation: str
    digest_key: str = Field(
        description="Unique per delegation and period: `VNM/daily/2030-01-01`, "
        "`VNM/meeting/<meeting id>`"
    )
    kind: Literal["daily", "meeting"]
    day: dt.date = Field(description="The delegation's local date the digest is for")
    timezone: str
    title: str
    text: str = Field(description="The digest rendered as plain text")
    entries: list[DigestEntry] = Field(
        default_factory=list, description="The events held for it, oldest first (at most 50)"
    )
    entries_left_out: int = Field(default=0, description="Held events beyond those listed")
    meeting: DigestMeeting | None = None
    plans: list[DigestPlanFigures] = Field(default_factory=list)
    since_previous_meeting: DigestSincePrevious | None = None

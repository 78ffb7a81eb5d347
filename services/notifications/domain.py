"""The notifications domain, free of I/O: the words every feature uses (what can be followed,
on which channels, how often), the dated membership of groupings, and the service's refusals.

The rules of each feature are in its own ``domain.py``: what an event concerns and who is told
how (``intake``), when a failed delivery is retried and when an endpoint is given up on
(``webhooks``), when a digest is due (``digests``).
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from shared import errors


class TargetKind(StrEnum):
    PLAN = "plan"
    SECTION = "section"
    ACTION_LINE = "action_line"
    TAG = "tag"
    MEETING_SERIES = "meeting_series"


class Channel(StrEnum):
    WEBHOOK = "webhook"
    INBOX = "inbox"
    STREAM = "stream"
    # To the delegation's contacts whose wishes match (email/): chosen, never by default.
    EMAIL = "email"


# What a subscription gets when it names no channel: the delegation's systems and inbox.
DEFAULT_CHANNELS = (Channel.WEBHOOK, Channel.INBOX, Channel.STREAM)


class ContactRole(StrEnum):
    """A contact's part in the delegation; technical contacts also hear about failing
    webhook endpoints."""

    AMBASSADOR = "ambassador"
    DESK_OFFICER = "desk_officer"
    TECHNICAL = "technical"


class Cadence(StrEnum):
    IMMEDIATE = "immediate"
    DAILY_DIGEST = "daily_digest"
    MEETING_DIGEST = "meeting_digest"


# --- refusals --------------------------------------------------------------------------------


class DelegationNotRegistered(errors.NotFound):
    """No delegation has this code. ``field`` is set when a command named it in one of its
    fields (whose subscription, whose endpoint, which member)."""

    def __init__(self, code: str, *, field: str | None = None) -> None:
        errors.DomainError.__init__(self, f"delegation {code} is not registered")
        self.field = field


class DelegationAlreadyRegistered(errors.Conflict):
    def __init__(self, code: str) -> None:
        super().__init__(f"delegation {code} is already registered")


class UnknownTarget(errors.Invalid):
    """A subscription names a plan, section, line or meeting series notifications has not
    seen in any event: it could never fire."""

    def __init__(self, kind: "TargetKind", key: str) -> None:
        what = (
            "meeting series" if kind is TargetKind.MEETING_SERIES else kind.value.replace("_", " ")
        )
        super().__init__(
            "target_key",
            f"no {what} {key!r} is known to notifications: it does not exist, or was created "
            "a moment ago and its event has not been taken in yet (retry in a few seconds)",
        )


# --- delegations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Membership:
    delegation: str
    valid_from: date
    valid_to: date | None = None

    def holds_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def members_on(memberships: Iterable[Membership], day: date) -> list[str]:
    return sorted({m.delegation for m in memberships if m.holds_on(day)})


# --- roles -----------------------------------------------------------------------------------

# The role held per meeting: its co-chairs, as the meetings service's events name them.
CO_CHAIRS = "co-chairs"


@dataclass(frozen=True)
class RoleAssignment:
    """A delegation holds a role over a date range; ``meeting``: only for that meeting."""

    delegation: str
    valid_from: date
    valid_to: date | None = None
    meeting: uuid.UUID | None = None

    def holds_on(self, day: date, meeting: uuid.UUID | None = None) -> bool:
        if self.meeting is not None and self.meeting != meeting:
            return False
        return Membership(self.delegation, self.valid_from, self.valid_to).holds_on(day)

    def overlaps(self, other: "RoleAssignment") -> bool:
        """Two date ranges (inclusive, open-ended when ``valid_to`` is None) share a day."""
        self_ends, other_ends = self.valid_to or date.max, other.valid_to or date.max
        return self.valid_from <= other_ends and other.valid_from <= self_ends


def holders_on(
    assignments: Iterable[RoleAssignment], day: date, meeting: uuid.UUID | None = None
) -> list[str]:
    """Who holds a role on ``day``; for a meeting's role, for ``meeting`` (the event's)."""
    return sorted({a.delegation for a in assignments if a.holds_on(day, meeting)})


class RoleNotDefined(errors.NotFound):
    def __init__(self, role: str, *, field: str | None = None) -> None:
        errors.DomainError.__init__(self, f"role {role} is not defined")
        self.field = field


class RoleAlreadyDefined(errors.Conflict):
    def __init__(self, role: str) -> None:
        super().__init__(f"role {role} is already defined")


class OverlappingAssignment(errors.Invalid):
    """A single-holder role (the ASEAN Chair) has one holder on any day."""

    def __init__(self, role: str, other: RoleAssignment) -> None:
        until = other.valid_to.isoformat() if other.valid_to else "open-ended"
        super().__init__(
            "valid_from",
            f"{role} has one holder at a time and {other.delegation} holds it from "
            f"{other.valid_from.isoformat()} to {until}: the periods overlap",
        )


class AssignedByMeetings(errors.Invalid):
    def __init__(self, role: str) -> None:
        super().__init__(
            "role", f"{role} is held per meeting, as the meetings service's events name them"
        )

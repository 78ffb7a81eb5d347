"""The meetings domain, free of I/O: the meeting lifecycle, the rules a meeting and its
decisions must keep, and the errors that say which rule a command broke.

Frameworks are not imported here; handlers load and save, this module decides. (The briefing
arithmetic is in ``briefings/domain.py``.) A field an error names is the dotted path in what
the function was given: ``check_status_review`` speaks of ``plan_id``, and the command that
holds the review under ``body`` names it ``body.plan_id``.
"""

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.errors import Conflict, Invalid, Stale


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    CONCLUDED = "concluded"
    CANCELLED = "cancelled"


# A meeting can be called off before or during its sitting; once concluded or cancelled
# nothing moves it again. Postponement keeps a meeting scheduled (with a new date).
TRANSITIONS: dict[MeetingStatus, frozenset[MeetingStatus]] = {
    MeetingStatus.SCHEDULED: frozenset({MeetingStatus.IN_PROGRESS, MeetingStatus.CANCELLED}),
    MeetingStatus.IN_PROGRESS: frozenset({MeetingStatus.CONCLUDED, MeetingStatus.CANCELLED}),
    MeetingStatus.CONCLUDED: frozenset(),
    MeetingStatus.CANCELLED: frozenset(),
}


class Attendance(StrEnum):
    INVITED = "invited"
    PRESENT = "present"
    ABSENT = "absent"
    EXCUSED = "excused"


class DecisionKind(StrEnum):
    STATUS_REVIEW = "status_review"
    PLAN_SUBMISSION = "plan_submission"
    PLAN_APPROVAL = "plan_approval"
    COMMITMENT = "commitment"
    STATEMENT = "statement"


# Decisions the plans service applies: they stay "pending" until it answers.
APPLIED_BY_PLANS = frozenset(
    {DecisionKind.STATUS_REVIEW, DecisionKind.PLAN_SUBMISSION, DecisionKind.PLAN_APPROVAL}
)


class Outcome(StrEnum):
    RECORDED = "recorded"  # nothing to apply elsewhere (commitments, statements)
    PENDING = "pending"  # waiting for the plans service's answer
    APPLIED = "applied"
    PARTLY_APPLIED = "partly_applied"  # a review some of whose lines were rejected
    REJECTED = "rejected"


class FollowUp(StrEnum):
    OPEN = "open"
    FULFILLED = "fulfilled"


class ForbiddenTransition(Conflict):
    """The lifecycle does not lead from the meeting's status to the one asked for;
    ``allowed`` lists where it does lead."""

    def __init__(self, current: MeetingStatus, requested: MeetingStatus) -> None:
        allowed = sorted(TRANSITIONS[current])
        super().__init__(
            f"a meeting cannot go from {current} to {requested}; "
            f"from {current} it may go to: {', '.join(allowed) or 'none'}",
            allowed=allowed,
        )


class StaleMeeting(Stale):
    """The caller's If-Match names a version of the meeting that is no longer current."""

    def __init__(self, *, expected: int, current: int) -> None:
        super().__init__("the meeting", expected=expected, current=current)


class WrongState(Conflict):
    """The meeting or commitment is not in a state that allows this."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone of that name; ValueError if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone name (e.g. Asia/Jakarta)") from exc


def check_schedule(starts_at: datetime, ends_at: datetime, timezone: str) -> None:
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise Invalid(name, f"{name} must carry a UTC offset, e.g. 2020-09-15T09:00+07:00")
    try:
        zone(timezone)
    except ValueError as exc:
        raise Invalid("timezone", str(exc)) from exc
    if ends_at <= starts_at:
        raise Invalid("ends_at", "ends_at must be after starts_at")


def meeting_date(starts_at: datetime, timezone: str) -> date:
    """The calendar date of the meeting where it is held: what "as of the meeting" means."""
    return starts_at.astimezone(zone(timezone)).date()


class UnknownDelegations(Invalid):
    """Participants whose codes no registered delegation has (as far as meetings has heard
    from notifications): they could never be told of the meeting nor act for themselves."""

    def __init__(self, field: str, codes: Sequence[str]) -> None:
        super().__init__(
            field,
            f"no delegation is registered with the code {', '.join(codes)}: register it in "
            "notifications first; one registered a moment ago is known here within seconds "
            "(retry)",
        )


def unknown_participants(
    participants: Sequence[str], known: Iterable[str], field: str = "participants.{index}"
) -> None:
    """Refuse the first participant no delegation has, naming every such code; ``field`` is
    where a code sits in the request (``{index}``: its position)."""
    known_codes = set(known)
    missing = [(i, code) for i, code in enumerate(participants) if code not in known_codes]
    if missing:
        raise UnknownDelegations(field.format(index=missing[0][0]), [code for _, code in missing])


def check_participants(participants: Sequence[str], co_chair_delegations: Sequence[str]) -> None:
    seen: set[str] = set()
    for index, code in enumerate(participants):
        if code in seen:
            raise Invalid(f"participants.{index}", f"{code} is listed twice")
        seen.add(code)
    for index, code in enumerate(co_chair_delegations):
        if code not in seen:
            raise Invalid(
                f"co_chairs.{index}.delegation",
                f"co-chair delegation {code} is not a participant of the meeting",
            )


def transition(current: MeetingStatus, requested: MeetingStatus) -> MeetingStatus:
    if requested not in TRANSITIONS[current]:
        raise ForbiddenTransition(current, requested)
    return requested


def check_can_change_arrangements(status: MeetingStatus) -> None:
    """Participants and agenda can change until the meeting is over."""
    if status in (MeetingStatus.CONCLUDED, MeetingStatus.CANCELLED):
        raise WrongState(f"the meeting is {status}; its arrangements can no longer change")


def check_attendance_once(delegations: Sequence[str]) -> None:
    seen: set[str] = set()
    for index, delegation in enumerate(delegations):
        if delegation in seen:
            raise Invalid(f"attendance.{index}.delegation", f"{delegation} is listed twice")
        seen.add(delegation)


def check_can_postpone(status: MeetingStatus) -> None:
    if status is not MeetingStatus.SCHEDULED:
        raise WrongState(f"only a scheduled meeting can be postponed; this one is {status}")


def check_can_decide(status: MeetingStatus) -> None:
    if status is not MeetingStatus.IN_PROGRESS:
        raise WrongState(
            f"decisions are adopted while a meeting is in progress (or at its conclusion); "
            f"this one is {status}"
        )


@dataclass(frozen=True)
class ReviewLineRef:
    action_line_id: uuid.UUID | None
    code: str | None
    effective_date: date | None = None


def check_status_review(
    plan_id: uuid.UUID,
    plans_under_review: Iterable[uuid.UUID],
    lines: Sequence[ReviewLineRef],
    review_date: date,
) -> None:
    """A review names plans under review and each line once; a line's own date is when its
    reported status took effect, so it cannot be after the review's (the meeting reports
    what happened, not what will)."""
    if plan_id not in set(plans_under_review):
        raise Invalid("plan_id", f"plan {plan_id} is not under review at this meeting")
    seen: set[object] = set()
    for index, line in enumerate(lines):
        if (line.action_line_id is None) == (line.code is None):
            raise Invalid(f"lines.{index}", "name the action line by action_line_id or by code")
        if line.effective_date is not None and line.effective_date > review_date:
            raise Invalid(
                f"lines.{index}.effective_date",
                f"a line's effective date cannot be after the review's ({review_date})",
            )
        key = line.action_line_id or line.code
        if key in seen:
            raise Invalid(f"lines.{index}", f"action line {key} is reviewed twice")
        seen.add(key)


# The first time zone to start a day (Kiribati's Line Islands, UTC+14).
_EARLIEST_ZONE = timezone(timedelta(hours=14))


def check_review_date(effective: date, now: datetime) -> None:
    """A status review cannot take effect on a day that has not begun anywhere yet. Plans
    holds the exact rule (no later than today in the plan's time zone, no earlier than each
    line's latest change) and rejects, line by line with the reason, what breaks it; this
    refuses at once what could never pass."""
    latest = now.astimezone(_EARLIEST_ZONE).date()
    if effective > latest:
        raise Invalid(
            "effective_date",
            f"effective_date {effective} has not begun anywhere yet (today is at most "
            f"{latest}); a status review reports changes that took effect, send the date they did",
        )


def check_submission_target(
    meeting_id: uuid.UUID,
    meeting_starts_at: datetime,
    target_id: uuid.UUID,
    target_status: MeetingStatus,
    target_starts_at: datetime,
) -> None:
    field_name = "submitted_to_meeting_id"
    if target_id == meeting_id or target_starts_at <= meeting_starts_at:
        raise Invalid(field_name, "a plan is submitted to a later meeting")
    if target_status is not MeetingStatus.SCHEDULED:
        raise Invalid(field_name, f"that meeting is {target_status}, not scheduled")


def initial_outcome(kind: DecisionKind) -> Outcome:
    return Outcome.PENDING if kind in APPLIED_BY_PLANS else Outcome.RECORDED


def review_outcome(outcomes: Iterable[str]) -> Outcome:
    """A review is applied if no line was rejected, rejected if every line was."""
    counts = Counter(outcomes)
    if counts["rejected"] == 0:
        return Outcome.APPLIED
    if counts["rejected"] == sum(counts.values()):
        return Outcome.REJECTED
    return Outcome.PARTLY_APPLIED


def fulfil(kind: DecisionKind, follow_up: FollowUp | None) -> FollowUp:
    if kind is not DecisionKind.COMMITMENT:
        raise WrongState(f"only a commitment can be fulfilled; this decision is a {kind}")
    if follow_up is FollowUp.FULFILLED:
        raise WrongState("the commitment is already fulfilled")
    return FollowUp.FULFILLED

"""The meetings domain, free of I/O: the meeting lifecycle, the rules a meeting and its
decisions must keep, and the briefing arithmetic.

Frameworks are not imported here; handlers load and save, this module decides.
"""

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


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


COMPLETED = "completed"


class DomainError(Exception):
    """A rule of the domain was broken; the message says which."""


class InvalidInput(DomainError):
    """A value the caller sent breaks a rule; ``field`` names it (dotted, from the body)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class ForbiddenTransition(DomainError):
    def __init__(self, current: MeetingStatus, requested: MeetingStatus) -> None:
        self.allowed = sorted(TRANSITIONS[current])
        allowed = ", ".join(self.allowed) or "none"
        super().__init__(
            f"a meeting cannot go from {current} to {requested}; "
            f"from {current} it may go to: {allowed}"
        )


class WrongState(DomainError):
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
            raise InvalidInput(name, f"{name} must carry a UTC offset, e.g. 2020-09-15T09:00+07:00")
    try:
        zone(timezone)
    except ValueError as exc:
        raise InvalidInput("timezone", str(exc)) from exc
    if ends_at <= starts_at:
        raise InvalidInput("ends_at", "ends_at must be after starts_at")


def meeting_date(starts_at: datetime, timezone: str) -> date:
    """The calendar date of the meeting where it is held: what "as of the meeting" means."""
    return starts_at.astimezone(zone(timezone)).date()


def check_participants(participants: Sequence[str], co_chair_delegations: Sequence[str]) -> None:
    seen: set[str] = set()
    for index, code in enumerate(participants):
        if code in seen:
            raise InvalidInput(f"participants.{index}", f"{code} is listed twice")
        seen.add(code)
    for index, code in enumerate(co_chair_delegations):
        if code not in seen:
            raise InvalidInput(
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


def check_status_review(
    plan_id: uuid.UUID, plans_under_review: Iterable[uuid.UUID], lines: Sequence[ReviewLineRef]
) -> None:
    if plan_id not in set(plans_under_review):
        raise InvalidInput("body.plan_id", f"plan {plan_id} is not under review at this meeting")
    seen: set[object] = set()
    for index, line in enumerate(lines):
        if (line.action_line_id is None) == (line.code is None):
            raise InvalidInput(
                f"body.lines.{index}", "name the action line by action_line_id or by code"
            )
        key = line.action_line_id or line.code
        if key in seen:
            raise InvalidInput(f"body.lines.{index}", f"action line {key} is reviewed twice")
        seen.add(key)


def check_submission_target(
    meeting_id: uuid.UUID,
    meeting_starts_at: datetime,
    target_id: uuid.UUID,
    target_status: MeetingStatus,
    target_starts_at: datetime,
) -> None:
    field_name = "body.submitted_to_meeting_id"
    if target_id == meeting_id or target_starts_at <= meeting_starts_at:
        raise InvalidInput(field_name, "a plan is submitted to a later meeting")
    if target_status is not MeetingStatus.SCHEDULED:
        raise InvalidInput(field_name, f"that meeting is {target_status}, not scheduled")


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


# --- briefing arithmetic -------------------------------------------------------------------


@dataclass(frozen=True)
class StatusChange:
    effective_date: date
    version: int
    status: str


@dataclass(frozen=True)
class LineHistory:
    """An action line as meetings knows it: its status before any recorded change, and every
    change since."""

    action_line_id: uuid.UUID
    code: str
    pillar_id: uuid.UUID | None
    initial_status: str
    changes: Sequence[StatusChange] = ()

    def status_as_of(self, day: date) -> str:
        """The last change that had taken effect by ``day`` (ties broken by version)."""
        effective = [c for c in self.changes if c.effective_date <= day]
        if not effective:
            return self.initial_status
        return max(effective, key=lambda c: (c.effective_date, c.version)).status


@dataclass(frozen=True)
class Figures:
    """Count rule: every line counts once, whatever its status (97 of 103 = 94.2 %)."""

    total: int
    by_status: dict[str, int]
    completed: int
    completion_rate: float


def figures(statuses: Iterable[str]) -> Figures:
    by_status = dict(sorted(Counter(statuses).items()))
    total = sum(by_status.values())
    completed = by_status.get(COMPLETED, 0)
    rate = round(100 * completed / total, 1) if total else 0.0
    return Figures(total=total, by_status=by_status, completed=completed, completion_rate=rate)


@dataclass(frozen=True)
class PillarChange:
    pillar_id: uuid.UUID | None
    completed_since: int
    reopened_since: int


@dataclass(frozen=True)
class Changes:
    since: date
    completed_since: list[str]
    reopened_since: list[str]
    per_pillar: list[PillarChange]


@dataclass(frozen=True)
class Progress:
    as_of: date
    overall: Figures
    per_pillar: dict[uuid.UUID | None, Figures]
    changes: Changes | None = field(default=None)


def progress(lines: Sequence[LineHistory], day: date, previous: date | None) -> Progress:
    """A plan's figures as of ``day``, per pillar, and what changed since ``previous``."""
    statuses = {line.action_line_id: line.status_as_of(day) for line in lines}
    pillars: dict[uuid.UUID | None, list[str]] = {}
    for line in lines:
        pillars.setdefault(line.pillar_id, []).append(statuses[line.action_line_id])
    return Progress(
        as_of=day,
        overall=figures(statuses.values()),
        per_pillar={pillar: figures(s) for pillar, s in pillars.items()},
        changes=changes_between(lines, previous, day) if previous is not None else None,
    )


def changes_between(lines: Sequence[LineHistory], since: date, day: date) -> Changes:
    """Lines completed since ``since`` (not completed then, completed on ``day``) and lines
    reopened (completed then, not any more), overall and per pillar."""
    completed: list[LineHistory] = []
    reopened: list[LineHistory] = []
    for line in lines:
        was, now = line.status_as_of(since) == COMPLETED, line.status_as_of(day) == COMPLETED
        if now and not was:
            completed.append(line)
        elif was and not now:
            reopened.append(line)
    pillar_ids = {line.pillar_id for line in completed + reopened}
    per_pillar = [
        PillarChange(
            pillar_id=pillar,
            completed_since=sum(1 for line in completed if line.pillar_id == pillar),
            reopened_since=sum(1 for line in reopened if line.pillar_id == pillar),
        )
        for pillar in pillar_ids
    ]
    return Changes(
        since=since,
        completed_since=sorted(line.code for line in completed),
        reopened_since=sorted(line.code for line in reopened),
        per_pillar=per_pillar,
    )

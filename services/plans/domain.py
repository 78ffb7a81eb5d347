"""The plans domain, free of I/O: statuses, their state machine, the rules of change, what
causes a change, and the refusals (derived from ``shared.errors``) the commands raise.

Frameworks are not imported here; handlers load and save, this module decides.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.errors import Conflict, Invalid, NotFound, Stale


class LineStatus(StrEnum):
    NOT_STARTED = "not_started"
    ONGOING = "ongoing"
    COMPLETED = "completed"
    ON_HOLD = "on_hold"
    DISCONTINUED = "discontinued"


# IATI ActivityStatus codelist (https://iatistandard.org/en/iati-standard/203/codelists/activitystatus/):
# 1 Pipeline/identification, 2 Implementation, 4 Closed, 5 Cancelled, 6 Suspended.
IATI_ACTIVITY_STATUS: dict[LineStatus, int] = {
    LineStatus.NOT_STARTED: 1,
    LineStatus.ONGOING: 2,
    LineStatus.COMPLETED: 4,
    LineStatus.DISCONTINUED: 5,
    LineStatus.ON_HOLD: 6,
}

# The declared workflow. A completed line can be reopened and a discontinued one resumed;
# nothing goes back to not_started, because work that has begun cannot un-begin.
TRANSITIONS: dict[LineStatus, frozenset[LineStatus]] = {
    LineStatus.NOT_STARTED: frozenset(
        {LineStatus.ONGOING, LineStatus.COMPLETED, LineStatus.ON_HOLD, LineStatus.DISCONTINUED}
    ),
    LineStatus.ONGOING: frozenset(
        {LineStatus.COMPLETED, LineStatus.ON_HOLD, LineStatus.DISCONTINUED}
    ),
    LineStatus.ON_HOLD: frozenset(
        {LineStatus.ONGOING, LineStatus.COMPLETED, LineStatus.DISCONTINUED}
    ),
    LineStatus.COMPLETED: frozenset({LineStatus.ONGOING}),
    LineStatus.DISCONTINUED: frozenset({LineStatus.ONGOING}),
}


class PlanStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    ACTIVE = "active"
    COMPLETED = "completed"
    SUPERSEDED = "superseded"


# The plan lifecycle: a draft is submitted, approved, activated; an active plan is completed
# or superseded by its successor.
PLAN_TRANSITIONS: dict[PlanStatus, frozenset[PlanStatus]] = {
    PlanStatus.DRAFT: frozenset({PlanStatus.SUBMITTED}),
    PlanStatus.SUBMITTED: frozenset({PlanStatus.APPROVED, PlanStatus.DRAFT}),
    PlanStatus.APPROVED: frozenset({PlanStatus.ACTIVE}),
    PlanStatus.ACTIVE: frozenset({PlanStatus.COMPLETED, PlanStatus.SUPERSEDED}),
    PlanStatus.COMPLETED: frozenset({PlanStatus.SUPERSEDED}),
    PlanStatus.SUPERSEDED: frozenset(),
}


class SourceKind(StrEnum):
    API = "api"
    MEETING_DECISION = "meeting_decision"


@dataclass(frozen=True)
class Source:
    """What caused a change: a call to the API (``id``, when given, names the caller) or a
    decision adopted at a meeting (``id`` is the decision's id). Every command that records
    its cause takes one; the journal and the events carry it as (kind, id)."""

    kind: SourceKind
    id: str | None = None

    @classmethod
    def api(cls, caller: str | None = None) -> "Source":
        return cls(SourceKind.API, caller)

    @classmethod
    def decision(cls, decision_id: uuid.UUID) -> "Source":
        return cls(SourceKind.MEETING_DECISION, str(decision_id))


def _refusal(what: str, current: str, requested: str, allowed: Sequence[str]) -> str:
    return (
        f"{what} cannot go from {current} to {requested}; "
        f"from {current} it may go to: {', '.join(allowed) or 'nothing'}"
    )


class ForbiddenTransition(Conflict):
    def __init__(self, current: LineStatus, requested: LineStatus) -> None:
        allowed = sorted(TRANSITIONS[current])
        super().__init__(_refusal("an action line", current, requested, allowed), allowed=allowed)


class ForbiddenPlanTransition(Conflict):
    def __init__(self, current: PlanStatus, requested: PlanStatus) -> None:
        allowed = sorted(PLAN_TRANSITIONS[current])
        super().__init__(_refusal("a plan", current, requested, allowed), allowed=allowed)


class StaleVersion(Stale):
    def __init__(self, expected: int, current: int) -> None:
        super().__init__("the action line", expected=expected, current=current)


class SectionNotInPlan(NotFound):
    """The command names a section that does not exist, or belongs to another plan."""

    def __init__(self, section_id: uuid.UUID, plan_id: uuid.UUID, *, field: str) -> None:
        super().__init__("section", section_id, field=field)
        self.message = f"section {section_id} does not exist in plan {plan_id}"
        self.args = (self.message,)


def change_plan_status(current: PlanStatus, requested: PlanStatus) -> PlanStatus:
    if requested not in PLAN_TRANSITIONS[current]:
        raise ForbiddenPlanTransition(current, requested)
    return requested


def is_unfinished(status: LineStatus) -> bool:
    """Lines a successor plan can take over: neither completed nor discontinued."""
    return status not in (LineStatus.COMPLETED, LineStatus.DISCONTINUED)


@dataclass(frozen=True)
class StatusChange:
    old: LineStatus
    new: LineStatus
    version: int


def require_version(expected: int, current: int) -> None:
    """A change is based on the version the caller saw, which must still be the current one."""
    if expected != current:
        raise StaleVersion(expected, current)


def change_status(
    current: LineStatus, version: int, requested: LineStatus, expected_version: int
) -> StatusChange:
    """Decide a status change: the caller's version must be current and the move allowed."""
    require_version(expected_version, version)
    if requested not in TRANSITIONS[current]:
        raise ForbiddenTransition(current, requested)
    return StatusChange(old=current, new=requested, version=version + 1)


# --- effective dates ------------------------------------------------------------------------
#
# The rule (docs/decisions/0025-effective-dates-and-corrections-of-history.md): a change takes
# effect no later than today in the plan's time zone, and no earlier than the line's latest
# recorded change. So a line's journal, ordered by effective date, is in the order the changes
# were made, and the status "as of today" recounted from it is the current one. Dating a
# recorded change differently is a correction of history, a command of its own
# (``check_correction``).


class EffectiveDateRefused(Invalid):
    """An effective date outside what the rule allows; the field is ``effective_date``."""

    def __init__(self, message: str) -> None:
        super().__init__("effective_date", message)


def plan_today(time_zone: str, now: datetime) -> date:
    """Today's date where the plan keeps its calendar."""
    return now.astimezone(ZoneInfo(time_zone)).date()


def check_effective_date(effective: date, *, today: date, latest: date | None) -> None:
    if effective > today:
        raise EffectiveDateRefused(
            f"effective_date {effective} is after today ({today} in the plan's time zone)"
        )
    if latest is not None and effective < latest:
        raise EffectiveDateRefused(
            f"effective_date {effective} is before the line's latest change ({latest}); "
            "to date a recorded change differently, correct the history"
        )


def check_correction(new: date, current: date, *, earliest: date | None, latest: date) -> None:
    """A corrected date stays between the changes recorded before and after the entry
    (``latest`` is the next change's date, or today for the line's last change)."""
    if new == current:
        raise EffectiveDateRefused(f"the change already took effect on {current}")
    if earliest is not None and new < earliest:
        raise EffectiveDateRefused(
            f"effective_date {new} is before the change recorded before it ({earliest})"
        )
    if new > latest:
        raise EffectiveDateRefused(
            f"effective_date {new} is after the change recorded after it, or today ({latest})"
        )

"""Matching, free of I/O: what an event of plans or meetings concerns, and who is told how.

Everything here works on the events' contracts: the fields a contract has are the ones it is
matched on, so an event gains a way to be followed only by a change of its contract.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import cast
from zoneinfo import ZoneInfo

from services.notifications.domain import Cadence, TargetKind
from shared.contracts import meetings, notifications, plans
from shared.events import EventContract

LineEvent = (
    plans.ActionLineCreated
    | plans.ActionLineUpdated
    | plans.ActionLineStatusChanged
    | plans.ActionLineHistoryCorrected
)
PlanEvent = (
    plans.PlanCreated
    | plans.PlanLifecycleChanged
    | plans.SectionCreated
    | LineEvent
    | plans.RollupsChanged
)
MeetingEvent = (
    meetings.MeetingScheduled
    | meetings.MeetingPostponed
    | meetings.MeetingLifecycleChanged
    | meetings.DecisionAdopted
)
# Every event the intake takes in (``consumers.CONSUMED`` subscribes to each).
Consumed = PlanEvent | MeetingEvent

Target = tuple[TargetKind, str]


def as_newest(event: EventContract) -> Consumed:
    """An event the intake takes in, of any version of its contract, read as the newest: the
    intake knows one shape of each type (e.g. a version-1 ``rollup.changed`` is a change of
    one scope)."""
    # Sound: the newest version of every type the intake subscribes to is in ``Consumed``.
    return cast(Consumed, event.as_newest())


def plan_of(event: Consumed) -> uuid.UUID | None:
    """The plan an event is about: a plan event's own, or the plan a decision acts on."""
    if isinstance(event, PlanEvent):
        return event.plan_id
    if isinstance(event, meetings.DecisionAdopted):
        return decided_plan(event)
    return None


def decided_plan(decision: meetings.DecisionAdopted) -> uuid.UUID | None:
    body = decision.body
    if isinstance(body, meetings.StatusReview | meetings.PlanSubmission | meetings.PlanApproval):
        return body.plan_id
    return None


def effective_date(event: Consumed, occurred_at: datetime) -> date:
    """The date an event is about, on which a grouping's members and a role's holders are
    taken: a status change's effective date (its corrected one), a decision's meeting date,
    a meeting's date in its own time zone; otherwise the day it happened (UTC)."""
    if isinstance(event, plans.ActionLineStatusChanged):
        return event.effective_date
    if isinstance(event, plans.ActionLineHistoryCorrected):
        return event.new_effective_date
    if isinstance(event, meetings.DecisionAdopted):
        return event.meeting_date
    if isinstance(event, MeetingEvent):
        return event.starts_at.astimezone(ZoneInfo(event.timezone)).date()
    return occurred_at.date()


def meeting_of(event: Consumed) -> uuid.UUID | None:
    """The meeting an event is about (whose co-chairs a ``co-chairs`` subscription tells)."""
    return event.meeting_id if isinstance(event, MeetingEvent) else None


def new_status(event: Consumed) -> str | None:
    """The status an event moves a line or a plan to, if it is a status change."""
    if isinstance(event, plans.ActionLineStatusChanged | plans.PlanLifecycleChanged):
        return event.new_status
    return None


# The rollup scopes a subscription can target besides the plan (which every plan event matches).
_ROLLUP_TARGETS = {"section": TargetKind.SECTION, "tag": TargetKind.TAG}


def targets(event: Consumed) -> list[Target]:
    """Everything an event concerns, i.e. every subscription target it matches: a line event
    matches its plan, each section on its path, the line and each of its tags."""
    found: list[Target] = []
    if isinstance(event, PlanEvent):
        found.append((TargetKind.PLAN, str(event.plan_id)))
    if isinstance(event, plans.SectionCreated):
        found.extend((TargetKind.SECTION, str(s)) for s in event.path)
    if isinstance(event, LineEvent):
        found.extend((TargetKind.SECTION, str(s)) for s in event.section_path)
        found.append((TargetKind.ACTION_LINE, str(event.action_line_id)))
        found.extend((TargetKind.TAG, tag) for tag in event.tags)
    if isinstance(event, plans.RollupsChanged):
        found.extend(
            (_ROLLUP_TARGETS[change.scope_kind], change.scope_key)
            for change in event.changes
            if change.scope_kind in _ROLLUP_TARGETS
        )
    if isinstance(event, MeetingEvent):
        if event.series:
            found.append((TargetKind.MEETING_SERIES, event.series))
        if isinstance(event, meetings.MeetingScheduled):
            found.extend((TargetKind.PLAN, str(p)) for p in event.plans_under_review)
        if isinstance(event, meetings.DecisionAdopted) and (plan := decided_plan(event)):
            found.append((TargetKind.PLAN, str(plan)))
    return list(dict.fromkeys(found))


def is_critical(event: EventContract) -> bool:
    """Critical events are sent at once even to delegations that asked for digests: a plan's
    approval (by the secretariat or a meeting's decision), and an endpoint's warning or
    disabling."""
    if isinstance(
        event,
        plans.PlanApproved | notifications.EndpointDisablingSoon | notifications.EndpointDisabled,
    ):
        return True
    return isinstance(event, meetings.DecisionAdopted) and isinstance(
        event.body, meetings.PlanApproval
    )


def type_matches(patterns: Sequence[str], event_type: str) -> bool:
    """An empty filter takes everything; a pattern is a full type, a suffix of one
    (``action_line.status_changed``) or a prefix ending in ``*`` (``org.accord.plans.*``)."""
    if not patterns:
        return True
    for pattern in patterns:
        if pattern.endswith("*"):
            if event_type.startswith(pattern[:-1]):
                return True
        elif event_type == pattern or event_type.endswith("." + pattern):
            return True
    return False


def crosses(threshold_percent: float, before: float, after: float) -> bool:
    """A completion rate crosses a threshold when one side of the change is below it and the
    other at or above it: reaching it, or falling below it again. One change crosses once."""
    line = threshold_percent / 100
    return (before < line) != (after < line)


# The rollup scope a threshold subscription watches: its own target, as a scope.
_WATCHED_SCOPE = {TargetKind.PLAN.value: "plan", TargetKind.SECTION.value: "section"}


@dataclass(frozen=True)
class SubscriptionRule:
    delegation: str
    event_types: Sequence[str]
    statuses: Sequence[str]
    channels: Sequence[str]
    cadence: str
    target_kind: str = ""
    target_key: str = ""
    # Completion thresholds in percent: the subscription is then told only when its plan's or
    # section's completion rate crosses one (from rollup.changed), once per crossing.
    thresholds: Sequence[float] = ()

    def accepts(self, event: Consumed) -> bool:
        if self.thresholds:
            return self._crossed(event)
        if not type_matches(self.event_types, event.event_type):
            return False
        return not self.statuses or new_status(event) in self.statuses

    def _crossed(self, event: Consumed) -> bool:
        if not isinstance(event, plans.RollupsChanged):
            return False
        watched = (_WATCHED_SCOPE.get(self.target_kind), self.target_key)
        return any(
            crosses(t, change.before.completion_rate, change.after.completion_rate)
            for change in event.changes
            if (change.scope_kind, change.scope_key) == watched
            for t in self.thresholds
        )


@dataclass
class Recipient:
    """How one delegation is told about one event, merged from all its matching rules."""

    delegation: str
    channels: set[str] = field(default_factory=set)
    immediate_channels: set[str] = field(default_factory=set)
    digests: set[str] = field(default_factory=set)


def recipients(rules: Iterable[SubscriptionRule], event: Consumed) -> dict[str, Recipient]:
    """One recipient per delegation however many of its subscriptions match: a delegation is
    told once. A critical event turns every digest into an immediate notice."""
    critical = is_critical(event)
    found: dict[str, Recipient] = {}
    for rule in rules:
        if not rule.accepts(event):
            continue
        recipient = found.setdefault(rule.delegation, Recipient(rule.delegation))
        recipient.channels.update(rule.channels)
        if critical or rule.cadence == Cadence.IMMEDIATE:
            recipient.immediate_channels.update(rule.channels)
        else:
            recipient.digests.add(rule.cadence)
    return found

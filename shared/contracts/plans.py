"""Events published by the plans service on ``accord.plans.events``.

All are keyed by plan id, so one plan's events (including its sections', lines' and rollups')
keep their order. Every line event carries the plan, the section path and the tags, so that
no consumer ever needs to call back.
"""

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.events import EventContract, contract

SOURCE = "/accord/plans"

ActionLineStatus = Literal["not_started", "ongoing", "completed", "on_hold", "discontinued"]
PlanStatus = Literal["draft", "submitted", "approved", "active", "completed", "superseded"]
ScopeKind = Literal["plan", "section", "tag", "lead"]


class ChangeSource(BaseModel):
    """What caused a change: a call to the API, or a decision adopted at a meeting."""

    kind: Literal["api", "meeting_decision"]
    id: str | None = None


@contract
class PlanCreated(EventContract):
    """Emitted when a plan is created (in the draft state)."""

    event_type = "org.accord.plans.plan.created"

    plan_id: uuid.UUID
    code: str
    title: str
    partners: list[str]
    period_start: date
    period_end: date
    status: str
    predecessor_id: uuid.UUID | None = None
    time_zone: str = "UTC"  # whose calendar "today" and effective dates follow


class PlanLifecycleChanged(EventContract):
    """Base of the plan lifecycle events: the plan moved from one status to another."""

    plan_id: uuid.UUID
    code: str
    title: str
    old_status: PlanStatus
    new_status: PlanStatus
    predecessor_id: uuid.UUID | None = None
    source: ChangeSource
    changed_at: datetime


@contract
class PlanSubmitted(PlanLifecycleChanged):
    """A draft plan was submitted for approval, possibly to a named future meeting."""

    event_type = "org.accord.plans.plan.submitted"
    submitted_to_meeting_id: uuid.UUID | None = None


@contract
class PlanApproved(PlanLifecycleChanged):
    """A submitted plan was approved (by a meeting's decision or by the secretariat)."""

    event_type = "org.accord.plans.plan.approved"
    carried_over_lines: int = 0


@contract
class PlanActivated(PlanLifecycleChanged):
    """An approved plan became the active one; its predecessor, if any, is superseded."""

    event_type = "org.accord.plans.plan.activated"


@contract
class PlanCompleted(PlanLifecycleChanged):
    event_type = "org.accord.plans.plan.completed"


@contract
class PlanSuperseded(PlanLifecycleChanged):
    event_type = "org.accord.plans.plan.superseded"
    successor_id: uuid.UUID | None = None


@contract
class SectionCreated(EventContract):
    """A section (pillar, area, sub-area...) was added; ``path`` lists its ancestors' ids and
    its own, root first."""

    event_type = "org.accord.plans.section.created"

    plan_id: uuid.UUID
    section_id: uuid.UUID
    parent_id: uuid.UUID | None
    path: list[uuid.UUID]
    code: str
    title: str
    ordering_key: str


@contract
class ActionLineCreated(EventContract):
    """Emitted when an action line is added to a plan (or carried over from a predecessor)."""

    event_type = "org.accord.plans.action_line.created"

    plan_id: uuid.UUID
    action_line_id: uuid.UUID
    section_path: list[uuid.UUID]
    code: str
    text: str
    leads: list[str]
    tags: list[str]
    target_date: date | None
    weight: float
    status: ActionLineStatus
    version: int
    carried_over_from: uuid.UUID | None = None


@contract
class ActionLineUpdated(EventContract):
    """An action line's descriptive fields changed (not its status: see StatusChanged)."""

    event_type = "org.accord.plans.action_line.updated"

    plan_id: uuid.UUID
    action_line_id: uuid.UUID
    section_path: list[uuid.UUID]
    code: str
    text: str
    leads: list[str]
    tags: list[str]
    target_date: date | None
    weight: float
    status: ActionLineStatus
    version: int


@contract
class ActionLineStatusChanged(EventContract):
    """Emitted when an action line's status changes; carries everything a subscriber needs
    (plan, section path, tags, the line's version) so that no consumer has to call back."""

    event_type = "org.accord.plans.action_line.status_changed"

    plan_id: uuid.UUID
    action_line_id: uuid.UUID
    section_path: list[uuid.UUID]
    code: str
    tags: list[str]
    leads: list[str]
    old_status: ActionLineStatus
    new_status: ActionLineStatus
    version: int
    effective_date: date
    target_date: date | None
    actor: str
    source: ChangeSource
    note: str | None = None
    changed_at: datetime


@contract
class ActionLineHistoryCorrected(EventContract):
    """A recorded status change got another effective date: a correction of history, never
    a change of status. The change is the journal entry that moved the line to ``status`` at
    ``entry_version``; it now took effect on ``new_effective_date``, which lies between the
    dates of the changes before and after it. ``version`` is the line's new version (a
    correction bumps it, like any change of the line); ``completed_on`` is the date the line
    counts as completed from, after the correction (null unless it is completed)."""

    event_type = "org.accord.plans.action_line.history_corrected"

    plan_id: uuid.UUID
    action_line_id: uuid.UUID
    section_path: list[uuid.UUID]
    code: str
    tags: list[str]
    leads: list[str]
    line_status: ActionLineStatus
    version: int
    journal_entry_id: int
    entry_version: int
    status: ActionLineStatus
    old_effective_date: date
    new_effective_date: date
    completed_on: date | None
    actor: str
    reason: str
    corrected_at: datetime


class RollupFigures(BaseModel):
    """A scope's figures under one counting rule."""

    total: float
    counted: float
    by_status: dict[ActionLineStatus, float]
    completed: float
    addressed: float
    completion_rate: float
    completed_ahead_of_schedule: float


@contract
class RollupChanged(EventContract):
    """Version 1 of ``rollup.changed``: one scope's figures changed. No longer published
    (``RollupsChanged``, version 2, lists every scope a change moved); still read, for the
    events published before it."""

    event_type = "org.accord.plans.rollup.changed"

    plan_id: uuid.UUID
    scope_kind: ScopeKind
    scope_key: str
    rule_version: int
    before: RollupFigures
    after: RollupFigures
    cause_event_id: str

    def as_newest(self) -> "RollupsChanged":
        """Read as version 2: a change of one scope."""
        change = ScopeChange(
            scope_kind=self.scope_kind,
            scope_key=self.scope_key,
            before=self.before,
            after=self.after,
        )
        return RollupsChanged(
            plan_id=self.plan_id,
            rule_version=self.rule_version,
            changes=[change],
            cause_event_id=self.cause_event_id,
        )


class ScopeChange(BaseModel):
    """One scope's figures before and after a change."""

    scope_kind: ScopeKind
    scope_key: str
    before: RollupFigures
    after: RollupFigures


@contract
class RollupsChanged(EventContract):
    """A change moved a plan's rollups: every scope whose figures changed, each before and
    after, so that a subscriber can alert on thresholds (e.g. "the plan reached 90 %").
    Version 2 of ``rollup.changed``: one event per cause, where version 1 was one per scope."""

    event_type = "org.accord.plans.rollup.changed"
    schema_version = 2

    plan_id: uuid.UUID
    rule_version: int
    changes: list[ScopeChange] = Field(min_length=1)
    cause_event_id: str


class ReviewLineResult(BaseModel):
    action_line_id: uuid.UUID | None
    code: str | None
    status: ActionLineStatus
    outcome: Literal["applied", "unchanged", "rejected"]
    reason: str | None = None


@contract
class StatusReviewProcessed(EventContract):
    """The plans service's answer to a meeting's status review: what it applied and what it
    rejected (unknown line, forbidden transition), line by line."""

    event_type = "org.accord.plans.status_review.processed"

    plan_id: uuid.UUID
    meeting_id: uuid.UUID
    decision_id: uuid.UUID
    results: list[ReviewLineResult]


@contract
class PlanDecisionRejected(EventContract):
    """A meeting's plan submission or approval could not be applied, and why."""

    event_type = "org.accord.plans.plan_decision.rejected"

    plan_id: uuid.UUID
    meeting_id: uuid.UUID
    decision_id: uuid.UUID
    reason: str


class FigureValue(BaseModel):
    """A published figure: ``completed`` of ``counted`` lines (``total`` before the rule's
    exclusions), and the share rounded once (shared/rounding.py)."""

    total: float
    counted: float
    completed: float
    completion_percent: float


@contract
class FigurePublished(EventContract):
    """A figure left the system and is kept as published (``GET /figures/{figure_id}``):
    what was counted, under which rule version, as of which day, from which position of the
    journal. ``meeting_id`` is the meeting it was published for (its conclusion), if any."""

    event_type = "org.accord.plans.figure.published"

    figure_id: uuid.UUID
    plan_id: uuid.UUID
    plan_code: str
    scope: str
    scope_title: str
    rule_version: int
    as_of: date
    journal_position: int
    correction_position: int
    value: FigureValue
    meeting_id: uuid.UUID | None = None
    published_at: datetime

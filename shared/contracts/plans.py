"""Events published by the plans service on ``accord.plans.events``.

All are keyed by plan id, so one plan's events (including its lines') keep their order.
"""

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from shared.events import EventContract, contract

SOURCE = "/accord/plans"

ActionLineStatus = Literal["not_started", "ongoing", "completed", "on_hold", "discontinued"]


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


@contract
class ActionLineCreated(EventContract):
    """Emitted when an action line is added to a plan."""

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

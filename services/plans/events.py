"""The events the plans service publishes: its outbox, and the contracts built from its rows.

Staging an event (``outbox.add``) only writes an outbox row in the caller's transaction; the
relay publishes it once that transaction has committed. Every plans event is keyed by its
plan id, so one plan's events (its sections', lines' and rollups' too) keep their order.
"""

import uuid
from datetime import UTC, date, datetime
from typing import Protocol

from services.plans import orm
from services.plans.domain import PlanStatus, Source
from shared.contracts import plans as contracts
from shared.outbox import Outbox
from shared.topics import PLANS_EVENTS

outbox = Outbox(table=orm.outbox, topic=PLANS_EVENTS, source=contracts.SOURCE, key="plan_id")


def change_source(source: Source) -> contracts.ChangeSource:
    return contracts.ChangeSource(kind=source.kind.value, id=source.id)


def plan_created(plan: orm.Plan) -> contracts.PlanCreated:
    return contracts.PlanCreated(
        plan_id=plan.id,
        code=plan.code,
        title=plan.title,
        partners=plan.partners,
        period_start=plan.period_start,
        period_end=plan.period_end,
        status=plan.status,
        predecessor_id=plan.predecessor_id,
        time_zone=plan.time_zone,
    )


_LIFECYCLE_EVENTS: dict[PlanStatus, type[contracts.PlanLifecycleChanged]] = {
    PlanStatus.SUBMITTED: contracts.PlanSubmitted,
    PlanStatus.APPROVED: contracts.PlanApproved,
    PlanStatus.ACTIVE: contracts.PlanActivated,
    PlanStatus.COMPLETED: contracts.PlanCompleted,
    PlanStatus.SUPERSEDED: contracts.PlanSuperseded,
}


def plan_moved(
    plan: orm.Plan, old: PlanStatus, source: Source, *, carried_over_lines: int = 0
) -> contracts.PlanLifecycleChanged | None:
    """The lifecycle event of the plan's move from ``old`` to its current status; None for
    a move back to draft, which nobody subscribes to."""
    new = PlanStatus(plan.status)
    contract = _LIFECYCLE_EVENTS.get(new)
    if contract is None:
        return None
    extra: dict[str, object] = {}
    if contract is contracts.PlanSubmitted:
        extra["submitted_to_meeting_id"] = plan.submitted_to_meeting_id
    elif contract is contracts.PlanApproved:
        extra["carried_over_lines"] = carried_over_lines
    elif contract is contracts.PlanSuperseded:
        extra["successor_id"] = plan.successor_id
    return contract(
        plan_id=plan.id,
        code=plan.code,
        title=plan.title,
        old_status=old.value,
        new_status=new.value,
        predecessor_id=plan.predecessor_id,
        source=change_source(source),
        changed_at=datetime.now(UTC),
        **extra,
    )


def section_created(section: orm.Section) -> contracts.SectionCreated:
    return contracts.SectionCreated(
        plan_id=section.plan_id,
        section_id=section.id,
        parent_id=section.parent_id,
        path=section.path,
        code=section.code,
        title=section.title,
        ordering_key=section.ordering_key,
    )


class LineFacts(Protocol):
    """What the line events read of a line: its row, or an imported line written in bulk
    (``services/plans/transfer/handlers.py``), which has no ORM object."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def plan_id(self) -> uuid.UUID: ...
    @property
    def code(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def leads(self) -> list[str]: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def target_date(self) -> date | None: ...
    @property
    def weight(self) -> float: ...
    @property
    def status(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def carried_over_from(self) -> uuid.UUID | None: ...


def _line_fields(line: LineFacts, section_path: list[uuid.UUID]) -> dict[str, object]:
    """What the created and updated events both say of a line."""
    return {
        "plan_id": line.plan_id,
        "action_line_id": line.id,
        "section_path": section_path,
        "code": line.code,
        "text": line.text,
        "leads": line.leads,
        "tags": line.tags,
        "target_date": line.target_date,
        "weight": line.weight,
        "status": line.status,
        "version": line.version,
    }


def action_line_created(
    line: LineFacts, section_path: list[uuid.UUID]
) -> contracts.ActionLineCreated:
    return contracts.ActionLineCreated(
        **_line_fields(line, section_path), carried_over_from=line.carried_over_from
    )


def action_line_updated(
    line: orm.ActionLine, section_path: list[uuid.UUID]
) -> contracts.ActionLineUpdated:
    return contracts.ActionLineUpdated(**_line_fields(line, section_path))


def _where(line: LineFacts, section_path: list[uuid.UUID]) -> dict[str, object]:
    """Where a line is, as every event about its history says it (for matching subscribers)."""
    return {
        "plan_id": line.plan_id,
        "action_line_id": line.id,
        "section_path": section_path,
        "code": line.code,
        "tags": line.tags,
        "leads": line.leads,
    }


class ChangeFacts(Protocol):
    """What the status-changed event reads of a change: its journal entry, or the values a
    status change records before it has its row (``handlers.RecordedChange``)."""

    @property
    def from_status(self) -> str: ...
    @property
    def to_status(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def effective_date(self) -> date: ...
    @property
    def actor(self) -> str: ...
    @property
    def note(self) -> str | None: ...
    @property
    def source_kind(self) -> str: ...
    @property
    def source_id(self) -> str | None: ...


def status_changed(
    line: LineFacts, entry: ChangeFacts, section_path: list[uuid.UUID]
) -> contracts.ActionLineStatusChanged:
    return contracts.ActionLineStatusChanged(
        **_where(line, section_path),
        old_status=entry.from_status,
        new_status=entry.to_status,
        version=entry.version,
        effective_date=entry.effective_date,
        target_date=line.target_date,
        actor=entry.actor,
        source=contracts.ChangeSource(kind=entry.source_kind, id=entry.source_id),
        note=entry.note,
        changed_at=datetime.now(UTC),
    )


def history_corrected(
    line: orm.ActionLine,
    entry: orm.JournalEntry,
    correction: orm.JournalCorrection,
    section_path: list[uuid.UUID],
    completed_on: date | None,
) -> contracts.ActionLineHistoryCorrected:
    return contracts.ActionLineHistoryCorrected(
        **_where(line, section_path),
        line_status=line.status,
        version=line.version,
        journal_entry_id=entry.id,
        entry_version=entry.version,
        status=entry.to_status,
        old_effective_date=correction.old_effective_date,
        new_effective_date=correction.new_effective_date,
        completed_on=completed_on,
        actor=correction.actor,
        reason=correction.reason,
        corrected_at=datetime.now(UTC),
    )

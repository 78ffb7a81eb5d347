"""The import commands: write a plan document whose every item is valid.

Sections go first (parents before children), then every line in bulk, with its creation
event and, for a line imported with a status, a journal entry and a status event, so that
the rollups and subscribers see what an API client's calls would have produced.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import events, handlers, orm
from services.plans.domain import LineStatus, Source
from services.plans.transfer.documents import (
    Fault,
    LineDocument,
    Problems,
    SectionDocument,
    check_structure,
)
from shared.db import insert_many
from shared.events import EventContract


@dataclass(frozen=True)
class ImportPlan:
    """A new plan with its sections and lines, from a document already checked whole (it
    refers to nothing that exists, so nothing but the plan itself can still be refused)."""

    plan: handlers.CreatePlan
    sections: Sequence[SectionDocument]
    lines: Sequence[LineDocument]
    actor: str


@dataclass(frozen=True)
class ImportLines:
    """Lines added to an existing plan. Each comes with where it is in the document (e.g.
    ``csv.line 3``); ``faults`` are the problems the document was already found to have, so
    that every problem is reported at once."""

    plan_id: uuid.UUID
    lines: Sequence[tuple[str, LineDocument]]
    actor: str
    faults: Sequence[Fault] = ()


@dataclass(frozen=True)
class Imported:
    plan: orm.Plan
    sections: int
    lines: int
    # Every problem of the document, in document order; when there is any, nothing was written.
    faults: list[Fault] = field(default_factory=list)


async def import_plan(session: AsyncSession, command: ImportPlan) -> Imported:
    plan = await handlers.create_plan(session, command.plan)
    count = await _write(session, plan, command.sections, command.lines, actor=command.actor)
    return Imported(plan=plan, sections=len(command.sections), lines=count)


async def import_lines(session: AsyncSession, command: ImportLines) -> Imported:
    """Check the lines against the plan's sections and lines, then write them, or nothing."""
    # The plan's lock makes concurrent imports into one plan take turns, so each checks its
    # codes against what the other wrote.
    plan = await handlers.get_plan(session, command.plan_id, lock=True)
    known_sections = set(
        await session.scalars(select(orm.Section.code).where(orm.Section.plan_id == plan.id))
    )
    known_lines = set(
        await session.scalars(select(orm.ActionLine.code).where(orm.ActionLine.plan_id == plan.id))
    )
    problems = Problems(list(command.faults))
    check_structure(
        [], command.lines, problems, known_sections=known_sections, known_lines=known_lines
    )
    if problems.items:
        return Imported(plan=plan, sections=0, lines=0, faults=problems.items)
    lines = [line for _, line in command.lines]
    count = await _write(session, plan, [], lines, actor=command.actor)
    return Imported(plan=plan, sections=0, lines=count)


async def _write(
    session: AsyncSession,
    plan: orm.Plan,
    sections: Sequence[SectionDocument],
    lines: Sequence[LineDocument],
    *,
    actor: str,
) -> int:
    section_ids = {
        s.code: s.id
        for s in await session.scalars(select(orm.Section).where(orm.Section.plan_id == plan.id))
    }
    for section in _parents_first(sections):
        created = await handlers.add_section(
            session,
            handlers.AddSection(
                plan_id=plan.id,
                code=section.code,
                title=section.title,
                parent_id=section_ids.get(section.parent_code) if section.parent_code else None,
                ordering_key=section.ordering_key,
            ),
        )
        section_ids[section.code] = created.id
    paths = {
        s.id: list(s.path)
        for s in await session.scalars(select(orm.Section).where(orm.Section.plan_id == plan.id))
    }

    def path_of(line: _NewLine) -> list[uuid.UUID]:
        return paths[line.section_id] if line.section_id else []

    today = datetime.now(UTC).date()
    new_lines = [_NewLine.of(plan.id, line, section_ids) for line in lines]
    outgoing: list[tuple[EventContract, str]] = [
        (events.action_line_created(new, path_of(new)), f"action-lines/{new.id}")
        for new in new_lines
    ]
    # A line imported with a status is written with it, and its journal entry and second event
    # tell of the change.
    entries = {
        new.id: _journal(new, line, actor, line.status_date or today)
        for new, line in zip(new_lines, lines, strict=True)
        if line.status is not LineStatus.NOT_STARTED
    }
    rows = []
    for new in new_lines:
        entry = entries.get(new.id)
        changed = {} if entry is None else {"status": entry.to_status, "version": entry.version}
        rows.append(vars(new) | changed)
    await insert_many(session, cast(Table, orm.ActionLine.__table__), rows)
    if entries:
        session.add_all(entries.values())
        await session.flush()
        for new in new_lines:
            if (entry := entries.get(new.id)) is not None:
                changed_event = events.status_changed(new, entry, path_of(new))
                outgoing.append((changed_event, f"action-lines/{new.id}"))
    await events.outbox.add_many(session, outgoing)
    return len(rows)


def _parents_first(sections: Sequence[SectionDocument]) -> list[SectionDocument]:
    by_code = {s.code: s for s in sections}
    ordered: list[SectionDocument] = []
    placed: set[str] = set()

    def place(section: SectionDocument) -> None:
        if section.code in placed:
            return
        if section.parent_code in by_code:
            place(by_code[section.parent_code])
        placed.add(section.code)
        ordered.append(section)

    for section in sections:
        place(section)
    return ordered


@dataclass(frozen=True)
class _NewLine:
    """An imported line: its row's columns (those without a server default) and what its
    events read. Not an ORM object: building 100,000 of them and flushing them through the
    unit of work was half of a 100,000-line import, for rows that are only inserted."""

    id: uuid.UUID
    plan_id: uuid.UUID
    section_id: uuid.UUID | None
    code: str
    ordering_key: str
    text: str
    leads: list[str]
    tags: list[str]
    target_date: date | None
    weight: float
    status: str
    version: int
    carried_over_from: uuid.UUID | None = None

    @classmethod
    def of(
        cls, plan_id: uuid.UUID, line: LineDocument, section_ids: dict[str, uuid.UUID]
    ) -> "_NewLine":
        return cls(
            id=uuid.uuid4(),
            plan_id=plan_id,
            section_id=section_ids[line.section_code] if line.section_code else None,
            code=line.code,
            ordering_key=line.ordering_key or line.code,
            text=line.text,
            leads=line.leads,
            tags=line.tags,
            target_date=line.target_date,
            weight=line.weight,
            status=LineStatus.NOT_STARTED.value,
            version=1,
        )


_IMPORTED = Source.api()


def _journal(row: _NewLine, line: LineDocument, actor: str, effective: date) -> orm.JournalEntry:
    return orm.JournalEntry(
        plan_id=row.plan_id,
        action_line_id=row.id,
        from_status=LineStatus.NOT_STARTED.value,
        to_status=line.status.value,
        version=2,
        effective_date=effective,
        actor=actor,
        note="imported",
        source_kind=_IMPORTED.kind.value,
        source_id=_IMPORTED.id,
    )

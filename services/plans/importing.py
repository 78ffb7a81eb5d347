"""Writing a validated plan document: sections first (parents before children), then every
line in bulk, with its creation event and, for a line imported with a status, a journal
entry and a status event, so that the rollups and subscribers see what an API client's
calls would have produced."""

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import handlers, orm, publishing
from services.plans.domain import LineStatus
from services.plans.schemas import SectionCreate
from services.plans.transfer import LineDocument, SectionDocument
from shared.outbox import Outgoing


async def import_into(
    session: AsyncSession,
    plan: orm.Plan,
    sections: list[SectionDocument],
    lines: list[LineDocument],
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
            plan.id,
            SectionCreate(
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
    rows = [_line_row(plan.id, line, section_ids) for line in lines]
    session.add_all(rows)
    await session.flush()
    today = datetime.now(UTC).date()
    outgoing: list[Outgoing] = []
    entries: list[tuple[orm.ActionLine, orm.JournalEntry]] = []
    for row, line in zip(rows, lines, strict=True):
        path = paths.get(row.section_id, []) if row.section_id else []
        outgoing.append(_outgoing(publishing.action_line_created(row, path), row))
        if line.status is not LineStatus.NOT_STARTED:
            entries.append((row, _journal(row, line, actor, line.status_date or today)))
    if entries:
        for row, entry in entries:
            row.status, row.version = entry.to_status, entry.version
        session.add_all([entry for _, entry in entries])
        await session.flush()
        for row, entry in entries:
            path = paths.get(row.section_id, []) if row.section_id else []
            outgoing.append(_outgoing(publishing.status_changed(row, entry, path), row))
    await publishing.publish_many(session, outgoing)
    return len(rows)


def _parents_first(sections: list[SectionDocument]) -> list[SectionDocument]:
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


def _line_row(
    plan_id: uuid.UUID, line: LineDocument, section_ids: dict[str, uuid.UUID]
) -> orm.ActionLine:
    return orm.ActionLine(
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


def _journal(
    row: orm.ActionLine, line: LineDocument, actor: str, effective: date
) -> orm.JournalEntry:
    return orm.JournalEntry(
        plan_id=row.plan_id,
        action_line_id=row.id,
        from_status=LineStatus.NOT_STARTED.value,
        to_status=line.status.value,
        version=2,
        effective_date=effective,
        actor=actor,
        note="imported",
        source_kind="api",
        source_id=None,
    )


def _outgoing(payload: object, row: orm.ActionLine) -> Outgoing:
    return Outgoing(payload=payload, key=str(row.plan_id), subject=f"action-lines/{row.id}")  # type: ignore[arg-type]

"""A statement draft as answered: its text, rendered, and each figure with the figure plans
published for the meeting (its provenance)."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings import orm
from services.meetings.statements.domain import from_json, rendered, rendered_html
from services.meetings.statements.schemas import DraftFigureRead, DraftRead
from shared.errors import NotFound


async def draft(session: AsyncSession, meeting_id: uuid.UUID, kind: str) -> DraftRead:
    row = await session.get(orm.StatementDraft, (meeting_id, kind))
    if row is None:
        await orm.load(session, orm.Meeting, meeting_id)  # a 404 for the meeting first
        raise NotFound(f"{kind} draft of meeting", meeting_id)
    return await read(session, row)


async def read(session: AsyncSession, row: orm.StatementDraft) -> DraftRead:
    figures = from_json(row.figures)
    published = {
        (str(f.plan_id), f.scope): f
        for f in await session.scalars(
            select(orm.MeetingFigure)
            .where(orm.MeetingFigure.meeting_id == row.meeting_id)
            .order_by(orm.MeetingFigure.published_at)
        )
    }  # the latest publication of each (plan, scope) wins
    out, links = [], {}
    for f in figures:
        p = published.get((f.plan_id, f.scope))
        matches = None if p is None else (p.completed, p.counted) == (f.completed, f.counted)
        provenance = f"/figures/{p.figure_id}" if p is not None else None
        if provenance is not None and matches:
            links[f.key] = provenance
        out.append(
            DraftFigureRead(
                key=f.key,
                words=f.words,
                plan_id=uuid.UUID(f.plan_id),
                scope=f.scope,
                title=f.title,
                completed=f.completed,
                counted=f.counted,
                completion_percent=f.completion_percent,
                as_of=f.as_of,
                figure_id=p.figure_id if p is not None else None,
                provenance=provenance,
                matches_published=matches,
            )
        )
    return DraftRead(
        meeting_id=row.meeting_id,
        kind=row.kind,
        version=row.version,
        text=row.text,
        rendered_text=rendered(row.text, figures),
        rendered_html=rendered_html(row.text, figures, links),
        figures=out,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )

"""Reading a published figure, and deriving it again now: the same value, or the later
journal events that changed it."""

import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import orm
from services.plans.figures.domain import LaterEvent, explanation, in_words, moves_across
from services.plans.figures.handlers import derive, journal_position, provenance, value_of
from services.plans.figures.schemas import (
    FigureLinks,
    FigureRead,
    FigureValueRead,
    LaterEventRead,
    RederivationRead,
)
from services.plans.rollups.projection import scopes_of
from shared.errors import NotFound


async def require_figure(session: AsyncSession, figure_id: uuid.UUID) -> orm.PublishedFigure:
    row = await session.get(orm.PublishedFigure, figure_id)
    if row is None:
        raise NotFound("figure", figure_id)
    return row


async def figure(session: AsyncSession, figure_id: uuid.UUID) -> FigureRead:
    return await read(session, await require_figure(session, figure_id))


async def read(session: AsyncSession, row: orm.PublishedFigure) -> FigureRead:
    code = await session.scalar(select(orm.Plan.code).where(orm.Plan.id == row.plan_id))
    value = value_of(row)
    return FigureRead(
        id=row.id,
        plan_code=code or "",
        **provenance(row),
        value=FigureValueRead(**vars(value)),
        in_words=in_words(value),
        published_at=row.published_at,
        links=FigureLinks(self=f"/figures/{row.id}", rederive=f"/figures/{row.id}/rederivation"),
    )


async def rederivation(session: AsyncSession, figure_id: uuid.UUID) -> RederivationRead:
    row = await require_figure(session, figure_id)
    plan = await session.get(orm.Plan, row.plan_id)
    assert plan is not None  # a figure's plan is a foreign key, never deleted
    now = await derive(session, plan, row.scope, row.rule_version, row.as_of)
    journal, corrections = await journal_position(session, plan.id)
    later = await later_events(session, row)
    published = value_of(row)
    same = now == published
    return RederivationRead(
        figure_id=row.id,
        same=same,
        published=FigureValueRead(**vars(published)),
        now=FigureValueRead(**vars(now)),
        journal_position_now=journal,
        correction_position_now=corrections,
        later_events=[LaterEventRead(**vars(e)) for e in later],
        explanation=explanation(same, later, published, now),
    )


# The plan's lines with what decides their scopes, when they were added, their status
# changes recorded after a journal position and effective by a day, and their corrections
# recorded after a correction position.
_LINES = text(
    """
    SELECT l.id, l.code, l.tags, l.leads, l.created_at, coalesce(s.path, '{}') AS section_path
      FROM action_lines l LEFT JOIN sections s ON s.id = l.section_id
     WHERE l.plan_id = :plan_id
    """
)
_CHANGES = text(
    """
    SELECT id, action_line_id, from_status, to_status, effective_date, recorded_at
      FROM status_journal
     WHERE plan_id = :plan_id AND id > :position AND effective_date <= :as_of
     ORDER BY id
    """
)
_CORRECTIONS = text(
    """
    SELECT c.id, c.action_line_id, c.journal_entry_id, c.old_effective_date,
           c.new_effective_date, c.reason
      FROM journal_corrections c JOIN action_lines l ON l.id = c.action_line_id
     WHERE l.plan_id = :plan_id AND c.id > :position
     ORDER BY c.id
    """
)


async def later_events(session: AsyncSession, row: orm.PublishedFigure) -> list[LaterEvent]:
    """Everything recorded since the figure was published that can change it.

    A status change recorded later counts when it is effective by the as-of day (the rule
    on effective dates makes that rare: a change dated on or before the day the figure was
    published, or a figure as of a day still running). A correction counts when it moves an
    entry across the as-of day. A line added later counts too: the journal counts it as not
    started on any day before its first change."""
    codes: dict[uuid.UUID, str] = {}
    found: list[LaterEvent] = []
    for line in await session.execute(_LINES, {"plan_id": row.plan_id}):
        if row.scope not in scopes_of(list(line.section_path), list(line.tags), list(line.leads)):
            continue
        codes[line.id] = line.code
        if line.created_at > row.published_at:
            found.append(
                LaterEvent(
                    "line_added",
                    str(line.id),
                    str(line.id),
                    line.code,
                    f"line {line.code} added on {line.created_at:%Y-%m-%d}",
                )
            )
    params = {"plan_id": row.plan_id, "as_of": row.as_of}
    for c in await session.execute(_CHANGES, {**params, "position": row.journal_position}):
        if c.action_line_id in codes:
            found.append(
                LaterEvent(
                    "status_change",
                    str(c.id),
                    str(c.action_line_id),
                    codes[c.action_line_id],
                    f"{c.from_status} -> {c.to_status} effective {c.effective_date}, "
                    f"recorded {c.recorded_at:%Y-%m-%d %H:%M} UTC",
                )
            )
    for k in await session.execute(
        _CORRECTIONS, {"plan_id": row.plan_id, "position": row.correction_position}
    ):
        if k.action_line_id in codes and moves_across(
            row.as_of, k.old_effective_date, k.new_effective_date
        ):
            found.append(
                LaterEvent(
                    "history_correction",
                    str(k.id),
                    str(k.action_line_id),
                    codes[k.action_line_id],
                    f"journal entry {k.journal_entry_id} re-dated from {k.old_effective_date} to "
                    f"{k.new_effective_date}: {k.reason}",
                )
            )
    return found

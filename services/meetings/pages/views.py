"""What a meeting's page shows: the API's own briefing (``briefings/views.py``: the frozen
snapshot once the meeting concluded), and per plan its pillars as bars and its completion over
time from this service's read model of plans' events, up to the meeting's date."""

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings import domain, orm
from services.meetings.briefings import views as briefings
from services.meetings.briefings.schemas import (
    PillarChangeRead,
    PillarFiguresRead,
    PlanBriefingRead,
    PublishedFigureRead,
)
from shared.pages.charts import Bar, BarChart, LineChart, Marker, bar_chart, line_chart
from shared.pages.figures import Published, Sources, provenance
from shared.pages.rendering import percent
from shared.pages.series import Change, completion_over_time


@dataclass(frozen=True)
class PlanSection:
    plan: PlanBriefingRead
    pillar_chart: BarChart
    completion_chart: LineChart
    # What changed since the previous meeting, by pillar id (as text), when there was one.
    changes: dict[str, PillarChangeRead]


async def meeting_index(session: AsyncSession) -> list[orm.Meeting]:
    return list(await session.scalars(select(orm.Meeting).order_by(orm.Meeting.starts_at.desc())))


async def meeting_page(
    session: AsyncSession, meeting_id: uuid.UUID, plans_at: str = ""
) -> dict[str, Any]:
    """The page's context; ``plans_at`` is where browsers reach plans' ``/figures/{id}``."""
    meeting = await orm.load(session, orm.Meeting, meeting_id)
    briefing = await briefings.briefing(session, meeting_id)
    day = domain.meeting_date(meeting.starts_at, meeting.timezone)
    plans = []
    for plan in briefing.plans:
        changes = plan.changes_since_previous_meeting
        markers = [Marker(changes.since, "previous meeting")] if changes else []
        series = await completion_series(session, plan.plan_id, briefing.as_of)
        start = date(series[0][0].year, 1, 1) if series else date(day.year - 1, day.month, 1)
        plans.append(
            PlanSection(
                plan=plan,
                pillar_chart=bar_chart([pillar_bar(p) for p in plan.per_pillar]),
                completion_chart=line_chart(
                    series, plan.overall.total, start, briefing.as_of, markers
                ),
                changes={str(c.pillar_id): c for c in changes.per_pillar} if changes else {},
            )
        )
    default = provenance(f"/meetings/{meeting_id}/briefing")
    return {
        "meeting": meeting,
        "briefing": briefing,
        "plans": plans,
        "source": Sources(default, plans_at, published(briefing.published_figures)),
    }


def published(figures: list[PublishedFigureRead]) -> dict[str | None, Published]:
    """The figures plans published for the meeting, by the key the page names their scope
    with: the plan's id for a plan's own, the pillar's id for a pillar's (the latest
    publication of each wins)."""
    keyed: dict[str | None, Published] = {}
    for f in figures:
        kind, _, key = f.scope.partition(":")
        values = {
            "completed": f.completed,
            "total": f.counted,  # the briefing counts every line once: its total
            "completion_percent": f.completion_percent,
        }
        keyed[str(f.plan_id) if kind == "plan" else key] = Published(f.figure_id, values)
    return keyed


def pillar_bar(pillar: PillarFiguresRead) -> Bar:
    return Bar(
        key=str(pillar.pillar_id),
        label=pillar.pillar,
        percent=pillar.completion_rate,
        caption=f"{pillar.completed} of {pillar.total} ({percent(pillar.completion_rate)})",
    )


async def completion_series(
    session: AsyncSession, plan_id: uuid.UUID, until: date
) -> list[tuple[date, int]]:
    """Lines completed at the end of each day the count changed, as this service knows the
    plan's lines (ties between changes of one day broken by version, as the briefing does)."""
    lines = await session.execute(
        select(orm.KnownActionLine.action_line_id, orm.KnownActionLine.initial_status).where(
            orm.KnownActionLine.plan_id == plan_id
        )
    )
    changes = await session.scalars(
        select(orm.KnownStatusChange).where(orm.KnownStatusChange.plan_id == plan_id)
    )
    return completion_over_time(
        {line.action_line_id: line.initial_status for line in lines},
        [Change(c.effective_date, c.version, c.action_line_id, c.new_status) for c in changes],
        until,
    )

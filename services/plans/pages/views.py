"""What a plan's page shows: the API's own rollups (``rollups/views.py``), so the page and the
API can never differ, and completion over time from the journal."""

import uuid
from collections.abc import Hashable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import orm
from services.plans.domain import plan_today
from services.plans.figures import handlers as figures_handlers
from services.plans.rollups import views as rollups
from services.plans.rollups.projection import PLAN_SCOPE
from services.plans.schemas import ScopeRollupRead
from services.plans.views import require_plan
from shared.pages.charts import Bar, bar_chart, line_chart
from shared.pages.figures import Published, Sources, provenance
from shared.pages.rendering import count, percent
from shared.pages.series import Change, completion_over_time


async def plan_index(session: AsyncSession) -> list[orm.Plan]:
    return list(await session.scalars(select(orm.Plan).order_by(orm.Plan.period_start.desc())))


async def plan_page(
    session: AsyncSession, plan_id: uuid.UUID, as_of: date | None, figures_at: str = ""
) -> dict[str, Any]:
    """The page's context. Its headline figures (overall, per pillar, per area) are
    published as of the page's day in ``session``'s transaction, and link to
    ``<figures_at>/figures/{id}``."""
    plan = await require_plan(session, plan_id)
    figures = await rollups.plan_rollups(session, plan_id, None, as_of)
    today = plan_today(plan.time_zone, datetime.now(UTC))
    day = as_of or today
    pillars = [s for s in figures.sections if s.depth == 1]
    default = provenance(f"/plans/{plan_id}/rollups", as_of=as_of)
    shown = [PLAN_SCOPE, *(f"section:{s.key}" for s in pillars)]
    shown += [f"tag:{s.key}" for s in figures.tags]
    # A day not begun in the plan's calendar has no figure to stand behind yet.
    published = (
        await publish(session, plan_id, shown, figures.rule.version, day) if day <= today else {}
    )
    series, lines = await completion_series(session, plan_id, day)
    last_change = series[-1][0] if series else day
    return {
        "plan": plan,
        "rollups": figures,
        "day": day,
        "pillars": pillars,
        "areas": figures.tags,
        # The template names a scope by the plan's (None), a pillar's or an area's key.
        "source": Sources(default, figures_at, _keyed(published, PLAN_SCOPE, "section")),
        "area_source": Sources(default, figures_at, _keyed(published, "tag")),
        "pillar_chart": bar_chart([pillar_bar(s) for s in pillars]),
        "completion_chart": line_chart(
            series,
            total=lines,  # lines, whatever the rule: the curve counts lines
            start=plan.period_start,
            end=max(min(plan.period_end, day), last_change),
        ),
    }


async def publish(
    session: AsyncSession,
    plan_id: uuid.UUID,
    scopes: list[str],
    rule_version: int,
    day: date,
) -> dict[str, Published]:
    """The shown scopes' figures, published (idempotent at one journal position), by scope."""
    rows = await figures_handlers.publish_scopes(session, plan_id, scopes, rule_version, day)
    return {
        scope: Published(
            row.id,
            {
                "completed": row.completed,
                "counted": row.counted,
                "completion_percent": row.completion_percent,
            },
        )
        for scope, (row, _) in zip(scopes, rows, strict=True)
    }


def _keyed(published: dict[str, Published], *kinds: str) -> dict[str | None, Published]:
    """The published figures of scopes of these kinds, by their key (None: the plan's)."""
    keyed: dict[str | None, Published] = {}
    for scope, figure in published.items():
        kind, _, key = scope.partition(":")
        if kind in kinds:
            keyed[None if scope == PLAN_SCOPE else key] = figure
    return keyed


def pillar_bar(scope: ScopeRollupRead) -> Bar:
    f = scope.figures
    return Bar(
        key=scope.key,
        label=" ".join(p for p in (scope.code, scope.title) if p),
        percent=f.completion_percent,
        caption=f"{count(f.completed)} of {count(f.counted)} ({percent(f.completion_percent)})",
    )


async def completion_series(
    session: AsyncSession, plan_id: uuid.UUID, until: date
) -> tuple[list[tuple[date, int]], int]:
    """Lines completed at the end of each day the count changed, from the journal (every line
    starts not started, as the rollups' as-of reads take it), and how many lines there are."""
    lines = await session.scalars(
        select(orm.ActionLine.id).where(orm.ActionLine.plan_id == plan_id)
    )
    entries = await session.execute(
        select(
            orm.JournalEntry.id,
            orm.JournalEntry.action_line_id,
            orm.JournalEntry.to_status,
            orm.JournalEntry.effective_date,
        )
        .join(orm.ActionLine, orm.ActionLine.id == orm.JournalEntry.action_line_id)
        .where(orm.ActionLine.plan_id == plan_id)
    )
    changes = [Change(e.effective_date, e.id, e.action_line_id, e.to_status) for e in entries]
    initial: dict[Hashable, str] = dict.fromkeys(lines, "not_started")
    return completion_over_time(initial, changes, until), len(initial)

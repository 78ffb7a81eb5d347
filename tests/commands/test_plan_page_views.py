"""What a plan's briefing page draws (services/plans/pages/views.py) on a real PostgreSQL:
the completion curve counts lines, whatever the counting rule totals; its headline figures
are published once per journal position and linked under the service's prefix."""

import uuid
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import handlers, orm
from services.plans.domain import LineStatus, Source
from services.plans.figures import views as figures
from services.plans.pages import views
from services.plans.rollups import handlers as rollup_handlers
from services.plans.rollups.domain import CountingMode


async def _plan(session: AsyncSession, code: str) -> orm.Plan:
    return await handlers.create_plan(
        session,
        handlers.CreatePlan(
            code=code,
            title=code,
            partners=["ASEAN", "UN"],
            period_start=date(2021, 1, 1),
            period_end=date(2021, 12, 31),
        ),
    )


async def _complete(session: AsyncSession, line: orm.ActionLine) -> None:
    await handlers.change_action_line_status(
        session,
        handlers.ChangeActionLineStatus(
            action_line_id=line.id,
            status=LineStatus.COMPLETED,
            expected_version=line.version,
            effective_date=date(2021, 6, 30),
            actor="secretariat@example.org",
            source=Source.api(),
        ),
    )


async def test_under_a_weighted_rule_the_completion_curve_still_counts_lines(
    plans_db: AsyncSession,
) -> None:
    plan = await _plan(plans_db, "PAGE-WEIGHTED")
    _heavy, light = [
        await handlers.add_action_line(
            plans_db,
            handlers.AddActionLine(plan_id=plan.id, code=code, text=code, weight=weight),
        )
        for code, weight in (("1", 3.0), ("2", 1.0))
    ]
    await _complete(plans_db, light)
    await rollup_handlers.create_counting_rule(
        plans_db,
        rollup_handlers.CreateCountingRule(
            name="by weight", mode=CountingMode.WEIGHTED, is_default=True
        ),
    )

    page = await views.plan_page(plans_db, plan.id, date(2021, 12, 31))

    figures = page["rollups"].plan.figures
    assert (figures.completed, figures.total) == (1.0, 4.0)  # the rule's weights
    chart = page["completion_chart"]
    assert chart.last == (date(2021, 6, 30), 1)
    # 1 of 2 lines: halfway up the axis (not a quarter, as 1 of the rule's 4 would draw).
    last_y = float(chart.points.split()[-1].split(",")[1])
    assert last_y == round(chart.bottom - (chart.bottom - chart.top) / 2, 2)


async def test_the_pages_headline_figures_are_published_once_per_journal_position(
    plans_db: AsyncSession,
) -> None:
    plan = await _plan(plans_db, "PAGE-LINKS")
    pillar = await handlers.add_section(
        plans_db, handlers.AddSection(plan_id=plan.id, code="1", title="Pillar")
    )
    line = await handlers.add_action_line(
        plans_db,
        handlers.AddActionLine(
            plan_id=plan.id, code="1.1", text="x", section_id=pillar.id, tags=["health"]
        ),
    )
    await handlers.add_action_line(
        plans_db,
        handlers.AddActionLine(plan_id=plan.id, code="1.2", text="y", section_id=pillar.id),
    )
    day = date(2021, 12, 31)

    async def linked() -> dict[tuple[str | None, str], str | None]:
        page = await views.plan_page(plans_db, plan.id, day, "/plans")
        shown = [(None, page["rollups"].plan, page["source"])]
        shown += [(s.key, s, page["source"]) for s in page["pillars"]]
        shown += [(s.key, s, page["area_source"]) for s in page["areas"]]
        links: dict[tuple[str | None, str], str | None] = {}
        for key, scope, sources in shown:
            for name in ("completed", "counted", "completion_percent", "overdue"):
                value = getattr(scope.figures, name)
                links[key, name] = sources.of(key, name, value).href
                if name != "overdue":  # published: its link shows the value the page shows
                    assert links[key, name] is not None, (key, name)
                    published = await figures.figure(plans_db, _id(links[key, name]))
                    assert (published.as_of, published.value.model_dump()[name]) == (day, value)
        return links

    first = await linked()
    assert {k for k, href in first.items() if href} == {
        (key, name)
        for key in (None, str(pillar.id), "health")
        for name in ("completed", "counted", "completion_percent")
    }
    assert all(href is None or href.startswith("/plans/figures/") for href in first.values())
    count = select(func.count()).select_from(orm.PublishedFigure)
    kept = await plans_db.scalar(count)
    # The same journal position: the same figures, none kept again.
    assert await linked() == first
    assert await plans_db.scalar(count) == kept
    # A change to the journal: the page stands behind new figures, with the new values.
    await _complete(plans_db, line)
    after = await linked()
    assert all(after[k] != first[k] for k, href in first.items() if href)


def _id(href: str | None) -> uuid.UUID:
    assert href is not None
    return uuid.UUID(href.rsplit("/", 1)[1])

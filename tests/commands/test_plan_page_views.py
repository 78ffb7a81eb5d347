"""What a plan's briefing page draws (services/plans/pages/views.py) on a real PostgreSQL:
the completion curve counts lines, whatever the counting rule totals."""

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.plans import handlers
from services.plans.domain import LineStatus, Source
from services.plans.pages import views
from services.plans.rollups import handlers as rollup_handlers
from services.plans.rollups.domain import CountingMode


async def test_under_a_weighted_rule_the_completion_curve_still_counts_lines(
    plans_db: AsyncSession,
) -> None:
    plan = await handlers.create_plan(
        plans_db,
        handlers.CreatePlan(
            code="PAGE-WEIGHTED",
            title="Weighted",
            partners=["ASEAN", "UN"],
            period_start=date(2021, 1, 1),
            period_end=date(2021, 12, 31),
        ),
    )
    _heavy, light = [
        await handlers.add_action_line(
            plans_db,
            handlers.AddActionLine(plan_id=plan.id, code=code, text=code, weight=weight),
        )
        for code, weight in (("1", 3.0), ("2", 1.0))
    ]
    await handlers.change_action_line_status(
        plans_db,
        handlers.ChangeActionLineStatus(
            action_line_id=light.id,
            status=LineStatus.COMPLETED,
            expected_version=light.version,
            effective_date=date(2021, 6, 30),
            actor="secretariat@example.org",
            source=Source.api(),
        ),
    )
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

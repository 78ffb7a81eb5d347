"""A threshold subscription is told when its plan's or section's completion rate crosses one
of its thresholds, once per crossing, either way, and of nothing else."""

import uuid
from datetime import date

from services.notifications.intake.domain import SubscriptionRule, crosses
from shared.contracts import plans

PLAN = uuid.uuid4()
SECTION = uuid.uuid4()


def _figures(rate: float) -> plans.RollupFigures:
    return plans.RollupFigures(
        total=10,
        counted=10,
        by_status={"completed": rate * 10},
        completed=rate * 10,
        addressed=rate * 10,
        completion_rate=rate,
        completed_ahead_of_schedule=0,
    )


def _change(before: float, after: float, kind: str, key: str) -> plans.ScopeChange:
    return plans.ScopeChange(
        scope_kind=kind, scope_key=key, before=_figures(before), after=_figures(after)
    )


def _rollups(*changes: plans.ScopeChange) -> plans.RollupsChanged:
    return plans.RollupsChanged(
        plan_id=PLAN, rule_version=1, changes=list(changes), cause_event_id="cause"
    )


def _rollup(
    before: float, after: float, kind: str = "plan", key: str = str(PLAN)
) -> plans.RollupsChanged:
    """One scope's change, as version 1 published it, read as the newest version."""
    return plans.RollupChanged(
        plan_id=PLAN,
        scope_kind=kind,
        scope_key=key,
        rule_version=1,
        before=_figures(before),
        after=_figures(after),
        cause_event_id="cause",
    ).as_newest()


def _rule(kind: str, key: str, *thresholds: float) -> SubscriptionRule:
    return SubscriptionRule(
        delegation="VNM",
        event_types=[],
        statuses=[],
        channels=["inbox"],
        cadence="immediate",
        target_kind=kind,
        target_key=key,
        thresholds=thresholds,
    )


def test_reaching_or_falling_below_a_threshold_crosses_it_staying_on_one_side_does_not() -> None:
    assert crosses(90, 0.8, 0.9) and crosses(90, 0.9, 0.8)
    assert crosses(90, 0.0, 1.0)
    assert not crosses(90, 0.9, 0.95) and not crosses(90, 0.5, 0.89)
    assert not crosses(90, 0.9, 0.9)


def test_only_the_crossing_rollup_of_the_subscriptions_own_scope_is_accepted() -> None:
    plan_rule = _rule("plan", str(PLAN), 50, 90)
    assert plan_rule.accepts(_rollup(0.4, 0.5))
    assert plan_rule.accepts(_rollup(0.95, 0.85))
    assert not plan_rule.accepts(_rollup(0.5, 0.6))
    # The plan's sections cross too, but a plan subscription watches the plan.
    assert not plan_rule.accepts(_rollup(0.4, 0.5, kind="section", key=str(SECTION)))
    section_rule = _rule("section", str(SECTION), 50)
    assert section_rule.accepts(_rollup(0.4, 0.5, kind="section", key=str(SECTION)))
    assert not section_rule.accepts(_rollup(0.4, 0.5))


def test_a_threshold_subscription_is_told_of_nothing_else_and_a_plain_one_of_everything() -> None:
    created = plans.PlanCreated(
        plan_id=PLAN,
        code="P",
        title="P",
        partners=[],
        period_start=date(2016, 1, 1),
        period_end=date(2020, 12, 31),
        status="draft",
    )
    assert not _rule("plan", str(PLAN), 90).accepts(created)
    plain = _rule("plan", str(PLAN))
    assert plain.accepts(created) and plain.accepts(_rollup(0.5, 0.6))


def test_one_event_of_every_scope_a_change_moved_tells_each_scope_of_its_own_crossing() -> None:
    other = uuid.uuid4()
    event = _rollups(
        _change(0.45, 0.47, "plan", str(PLAN)),
        _change(0.4, 0.5, "section", str(SECTION)),
        _change(0.8, 0.9, "section", str(other)),
        _change(0.4, 0.5, "tag", "health"),
    )
    assert not _rule("plan", str(PLAN), 50).accepts(event)
    assert _rule("section", str(SECTION), 50).accepts(event)
    assert not _rule("section", str(SECTION), 90).accepts(event)
    assert _rule("section", str(other), 90).accepts(event)
    assert not _rule("section", str(uuid.uuid4()), 50).accepts(event)

"""Every published share is computed from the unrounded counts and rounded once, half away
from zero (shared/rounding.py): the rollups' completion_rate and completion_percent, the
briefing's percent and the inbox's progress line. The fractions are chosen next to a
rounding boundary, where rounding twice or rounding half to even on a float goes wrong."""

import uuid
from datetime import date

import pytest

from services.meetings.briefings import domain as briefing
from services.notifications.inbox.render import render
from services.plans.domain import LineStatus
from services.plans.rollups.domain import CountingMode, CountingRule, LineFacts, figures, recount
from shared.contracts import plans as contracts

TODAY = date(2020, 9, 15)

# (completed, total, completion_rate, completion_percent)
BOUNDARIES = [
    (1, 8, 0.125, 12.5),  # exact in binary and in decimal
    (97, 103, 0.9417, 94.2),  # the story's headline figure
    (15, 19, 0.7895, 78.9),  # 78.947...: the rate rounds up to ...95, which must not carry
    (4, 21, 0.1905, 19.0),  # 19.047...: likewise
    (1, 16, 0.0625, 6.3),  # 6.25 exactly: half away from zero, not to even (6.2)
    (14, 17, 0.8235, 82.4),  # 82.352...: the float 82.35 is below the half
    (1, 80, 0.0125, 1.3),  # 1.25 exactly, a float a hair below it
    (0, 7, 0.0, 0.0),
    (7, 7, 1.0, 100.0),
]


def _lines(completed: int, total: int) -> list[LineFacts]:
    done = [LineFacts(LineStatus.COMPLETED, 1.0, None, TODAY)] * completed
    return done + [LineFacts(LineStatus.ONGOING, 1.0, None)] * (total - completed)


@pytest.mark.parametrize(("completed", "total", "rate", "percent"), BOUNDARIES)
def test_rollup_figures_round_once_from_the_counts(
    completed: int, total: int, rate: float, percent: float
) -> None:
    f = figures(recount(_lines(completed, total)), CountingRule(version=1), today=TODAY)
    assert (f.completion_rate, f.completion_percent) == (rate, percent)


def test_weighted_figures_round_the_exact_weights_once() -> None:
    # 0.3 + 0.45 of 1.6: 46.875 % exactly in decimal, which rounds half away from zero.
    lines = [
        LineFacts(LineStatus.COMPLETED, 0.3, None, TODAY),
        LineFacts(LineStatus.COMPLETED, 0.45, None, TODAY),
        LineFacts(LineStatus.ONGOING, 0.85, None),
    ]
    rule = CountingRule(version=2, mode=CountingMode.WEIGHTED)
    f = figures(recount(lines), rule, today=TODAY)
    assert (f.completion_rate, f.completion_percent) == (0.4688, 46.9)


@pytest.mark.parametrize(("completed", "total", "rate", "percent"), BOUNDARIES)
def test_the_briefing_percent_rounds_once_from_the_counts(
    completed: int, total: int, rate: float, percent: float
) -> None:
    statuses = ["completed"] * completed + ["ongoing"] * (total - completed)
    assert briefing.figures(statuses).completion_rate == percent


@pytest.mark.parametrize(("completed", "total", "rate", "percent"), BOUNDARIES)
def test_the_inbox_progress_line_rounds_once_from_the_counts(
    completed: int, total: int, rate: float, percent: float
) -> None:
    def as_published(done: int) -> contracts.RollupFigures:
        f = figures(recount(_lines(done, total)), CountingRule(version=1), today=TODAY)
        return contracts.RollupFigures.model_validate(f, from_attributes=True)

    plan_id = uuid.uuid4()
    change = contracts.ScopeChange(
        scope_kind="plan",
        scope_key=str(plan_id),
        before=as_published(0),
        after=as_published(completed),
    )
    event = contracts.RollupsChanged(
        plan_id=plan_id, rule_version=1, changes=[change], cause_event_id="e"
    )
    title, _ = render(event, {})
    assert f"{percent:.1f}% completed" in title

from datetime import date

import pytest

from services.plans.domain import LineStatus
from services.plans.rollups.domain import (
    Counters,
    CountingMode,
    CountingRule,
    Health,
    LineFacts,
    figures,
    health,
    recount,
)

S = LineStatus
COUNT = CountingRule(version=1)
TODAY = date(2020, 9, 15)
PERIOD = (date(2016, 1, 1), date(2020, 12, 31))


def _asean_un_plan() -> list[LineFacts]:
    """97 of 103 completed, 60 of them ahead of schedule; 6 still ongoing."""
    ahead = [LineFacts(S.COMPLETED, 1, date(2020, 12, 31), completed_on=date(2020, 9, 15))] * 60
    on_time = [LineFacts(S.COMPLETED, 1, date(2019, 12, 31), completed_on=date(2020, 9, 15))] * 37
    ongoing = [LineFacts(S.ONGOING, 1, date(2020, 12, 31))] * 6
    return ahead + on_time + ongoing


def test_97_of_103_completed_is_94_2_percent_under_the_default_rule() -> None:
    f = figures(recount(_asean_un_plan()), COUNT, today=TODAY, period=PERIOD)
    assert (f.total, f.counted, f.completed, f.addressed) == (103, 103, 97, 103)
    assert f.completion_rate == 0.9417
    assert round(f.completion_rate * 100, 1) == 94.2
    assert f.completed_ahead_of_schedule == 60
    assert f.by_status[S.ONGOING] == 6
    assert f.rule_version == 1


def test_excluded_statuses_leave_the_totals() -> None:
    lines = [LineFacts(S.COMPLETED, 1, None, date(2020, 1, 1))] * 8 + [
        LineFacts(S.DISCONTINUED, 1, None)
    ] * 2
    rule = CountingRule(version=2, excluded=frozenset({S.DISCONTINUED}))
    f = figures(recount(lines), rule, today=TODAY)
    assert (f.total, f.counted, f.completed, f.completion_rate) == (10, 8, 8, 1.0)
    assert figures(recount(lines), COUNT, today=TODAY).completion_rate == 0.8


def test_a_weighted_rule_counts_weights() -> None:
    lines = [LineFacts(S.COMPLETED, 3, None, date(2020, 1, 1)), LineFacts(S.ONGOING, 1, None)]
    rule = CountingRule(version=3, mode=CountingMode.WEIGHTED)
    f = figures(recount(lines), rule, today=TODAY)
    assert (f.total, f.completed, f.completion_rate, f.addressed) == (4, 3, 0.75, 4)
    assert figures(recount(lines), COUNT, today=TODAY).completion_rate == 0.5


@pytest.mark.parametrize(
    ("completed_on", "target", "ahead"),
    [
        (date(2020, 9, 14), date(2020, 9, 15), True),
        (date(2020, 9, 15), date(2020, 9, 15), False),  # on the day is on time, not ahead
        (date(2020, 9, 16), date(2020, 9, 15), False),
        (date(2020, 9, 14), None, False),
    ],
)
def test_ahead_of_schedule_means_completed_strictly_before_the_target(
    completed_on: date, target: date | None, ahead: bool
) -> None:
    assert LineFacts(S.COMPLETED, 1, target, completed_on).bucket == (S.COMPLETED, ahead)


def test_overdue_counts_unfinished_lines_past_their_target_on_the_day_asked() -> None:
    lines = [
        LineFacts(S.ONGOING, 1, date(2020, 6, 30)),  # overdue
        LineFacts(S.NOT_STARTED, 1, date(2020, 9, 14)),  # overdue
        LineFacts(S.ON_HOLD, 1, date(2020, 9, 15)),  # due today: not yet overdue
        LineFacts(S.COMPLETED, 1, date(2019, 1, 1), date(2019, 6, 1)),  # finished
        LineFacts(S.DISCONTINUED, 1, date(2019, 1, 1)),  # finished
        LineFacts(S.ONGOING, 1, None),  # no target
    ]
    counters = recount(lines)
    assert figures(counters, COUNT, today=TODAY).overdue == 2
    assert figures(counters, COUNT, today=date(2020, 9, 16)).overdue == 3
    assert figures(counters, COUNT, today=date(2020, 1, 1)).overdue == 0


def test_moving_a_line_between_buckets_equals_a_recount() -> None:
    before = LineFacts(S.ONGOING, 2, date(2020, 12, 31))
    after = LineFacts(S.COMPLETED, 2, date(2020, 12, 31), date(2020, 9, 15))
    others = [LineFacts(S.NOT_STARTED, 1, date(2021, 1, 1))] * 3
    counters = recount([*others, before])
    counters.add(before, -1)
    counters.add(after, +1)
    assert counters.normalised() == recount([*others, after]).normalised()


def test_an_empty_scope_has_a_zero_rate_not_an_error() -> None:
    f = figures(Counters(), COUNT, today=TODAY, period=PERIOD)
    assert (f.total, f.completion_rate, f.overdue) == (0, 0.0, 0)


@pytest.mark.parametrize(
    ("rate", "overdue_share", "expected", "verdict"),
    [
        (0.95, 0.0, 0.95, Health.ON_TRACK),
        (0.86, 0.10, 0.95, Health.ON_TRACK),
        (0.80, 0.0, 0.95, Health.AT_RISK),
        (0.95, 0.15, 0.95, Health.AT_RISK),
        (0.60, 0.0, 0.95, Health.OFF_TRACK),
        (0.95, 0.30, 0.95, Health.OFF_TRACK),
    ],
)
def test_health_follows_the_documented_rule(
    rate: float, overdue_share: float, expected: float, verdict: Health
) -> None:
    assert health(rate, overdue_share, expected) is verdict

"""The briefing pages' chart geometry and completion series (shared/pages), without a browser."""

import itertools
from datetime import date

from shared.pages.charts import BAR_LABEL_WIDTH, Bar, Marker, bar_chart, line_chart
from shared.pages.series import Change, completion_over_time


def test_one_bar_per_item_each_as_long_as_its_percentage_of_the_axis() -> None:
    chart = bar_chart(
        [Bar("1", "Political", 96.7, ""), Bar("2", "Economic", 50.0, ""), Bar("3", "x", 0.0, "")]
    )
    full = chart.plot_width
    assert [b.width for b in chart.bars] == [round(full * 0.967, 2), full / 2, 0.0]
    assert {b.x for b in chart.bars} == {BAR_LABEL_WIDTH}
    # Rows do not overlap, and the axis sits below the last one.
    tops = [b.y for b in chart.bars]
    assert all(b - a >= chart.bars[0].height for a, b in itertools.pairwise(tops))
    assert chart.axis_y >= tops[-1] + chart.bars[-1].height
    assert [t.label for t in chart.ticks] == ["0 %", "25 %", "50 %", "75 %", "100 %"]
    assert chart.ticks[-1].at == BAR_LABEL_WIDTH + full


def test_a_percentage_outside_0_100_is_drawn_at_the_end_of_the_axis() -> None:
    chart = bar_chart([Bar("a", "a", 120.0, ""), Bar("b", "b", -5.0, "")])
    assert [b.width for b in chart.bars] == [chart.plot_width, 0.0]


def test_completion_over_time_counts_completions_and_reopenings_per_day() -> None:
    initial = {"a": "not_started", "b": "ongoing", "c": "completed"}
    changes = [
        Change(date(2017, 3, 1), 1, "a", "ongoing"),  # no change in the count: not drawn
        Change(date(2017, 6, 1), 2, "a", "completed"),
        Change(date(2018, 1, 5), 3, "c", "ongoing"),  # reopened
        Change(date(2018, 1, 5), 4, "b", "completed"),  # the same day: the count stays 2
        Change(date(2019, 2, 1), 5, "c", "completed"),
        Change(date(2021, 1, 1), 6, "b", "ongoing"),  # after ``until``
    ]
    assert completion_over_time(initial, reversed(changes), until=date(2020, 9, 15)) == [
        (date(2017, 3, 1), 1),
        (date(2017, 6, 1), 2),
        (date(2019, 2, 1), 3),
    ]


def test_changes_of_one_day_apply_in_their_order() -> None:
    # Completed then reopened on the same day: not completed at the end of it.
    changes = [
        Change(date(2020, 1, 1), 2, "a", "ongoing"),
        Change(date(2020, 1, 1), 1, "a", "completed"),
    ]
    assert completion_over_time({"a": "not_started"}, changes) == [(date(2020, 1, 1), 0)]


def test_the_completion_curve_is_a_step_per_change_on_the_plan_period() -> None:
    series = [(date(2017, 1, 1), 10), (date(2019, 1, 1), 40)]
    chart = line_chart(
        series, 100, date(2016, 1, 1), date(2020, 12, 31), [Marker(date(2019, 9, 1), "m")]
    )
    points = [tuple(map(float, p.split(","))) for p in chart.points.split()]
    ys = [y for _, y in points]
    # From 0 at the start, up to 10 then 40, flat to the end; y grows downwards.
    assert ys[0] == chart.bottom and ys[-1] == ys[-2]
    assert ys == sorted(ys, reverse=True)
    height = chart.bottom - chart.top
    assert ys[-1] == round(chart.bottom - height * 0.4, 2)
    assert points[0][0] == chart.left and points[-1][0] == chart.right
    assert [t.label for t in chart.x_ticks] == ["2016", "2017", "2018", "2019", "2020"]
    assert chart.last == (date(2019, 1, 1), 40)
    assert len(chart.markers) == 1 and chart.left < chart.markers[0].x < chart.right

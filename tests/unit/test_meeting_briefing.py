"""The briefing arithmetic: statuses as of a date, figures under the count rule, per pillar,
and the change since the previous meeting of the series."""

import uuid
from datetime import date

from services.meetings.briefings.domain import LineHistory, StatusChange, figures, progress

POLITICS, ECONOMY = uuid.uuid4(), uuid.uuid4()
PREVIOUS, MEETING = date(2019, 9, 27), date(2020, 9, 15)


def line(code: str, pillar: uuid.UUID | None, *changes: tuple[str, int, str]) -> LineHistory:
    return LineHistory(
        action_line_id=uuid.uuid4(),
        code=code,
        pillar_id=pillar,
        initial_status="not_started",
        changes=[StatusChange(date.fromisoformat(d), v, s) for d, v, s in changes],
    )


def test_the_status_as_of_a_date_is_the_last_change_effective_by_then() -> None:
    history = line(
        "1.1",
        POLITICS,
        ("2018-01-10", 2, "ongoing"),
        ("2020-09-15", 3, "completed"),
        ("2020-10-01", 4, "ongoing"),
    )
    assert history.status_as_of(date(2017, 12, 31)) == "not_started"
    assert history.status_as_of(date(2019, 1, 1)) == "ongoing"
    assert history.status_as_of(MEETING) == "completed"
    assert history.status_as_of(date(2021, 1, 1)) == "ongoing"


def test_changes_on_the_same_day_are_ordered_by_version_not_arrival() -> None:
    history = line("1.1", None, ("2020-09-15", 3, "completed"), ("2020-09-15", 2, "ongoing"))
    assert history.status_as_of(MEETING) == "completed"


def test_the_count_rule_counts_every_status_so_97_of_103_is_94_2_percent() -> None:
    result = figures(["completed"] * 97 + ["ongoing"] * 4 + ["discontinued"] * 2)
    assert (result.total, result.completed, result.completion_rate) == (103, 97, 94.2)
    assert result.by_status == {"completed": 97, "discontinued": 2, "ongoing": 4}


def test_an_empty_plan_has_a_zero_rate_rather_than_an_error() -> None:
    assert figures([]).completion_rate == 0.0


def test_progress_is_given_overall_and_per_pillar_as_of_the_meeting() -> None:
    lines = [
        line("1.1", POLITICS, ("2020-09-01", 2, "completed")),
        line("1.2", POLITICS, ("2020-09-20", 2, "completed")),  # after the meeting
        line("2.1", ECONOMY, ("2020-01-01", 2, "ongoing")),
    ]
    result = progress(lines, MEETING, previous=None)
    assert (result.overall.total, result.overall.completed) == (3, 1)
    assert result.per_pillar[POLITICS].completed == 1
    assert result.per_pillar[POLITICS].completion_rate == 50.0
    assert result.per_pillar[ECONOMY].by_status == {"ongoing": 1}
    assert result.changes is None


def test_the_change_since_the_previous_meeting_lists_lines_completed_and_reopened() -> None:
    lines = [
        line("1.1", POLITICS, ("2019-01-01", 2, "completed")),  # completed before: no change
        line("1.2", POLITICS, ("2020-03-01", 2, "completed")),  # completed since
        line("2.1", ECONOMY, ("2019-05-01", 2, "completed"), ("2020-02-01", 3, "ongoing")),
        line("2.2", ECONOMY, ("2020-06-01", 2, "completed")),  # completed since
        line("2.3", ECONOMY),  # never touched
    ]
    changes = progress(lines, MEETING, previous=PREVIOUS).changes
    assert changes is not None
    assert changes.since == PREVIOUS
    assert changes.completed_since == ["1.2", "2.2"]
    assert changes.reopened_since == ["2.1"]
    per_pillar = {c.pillar_id: (c.completed_since, c.reopened_since) for c in changes.per_pillar}
    assert per_pillar == {POLITICS: (1, 0), ECONOMY: (1, 1)}

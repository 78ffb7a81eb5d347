"""The pure rules behind role assignments, the date an event is about, and a digest's net
changes since the previous meeting."""

import uuid
from datetime import UTC, date, datetime

import pytest

from services.notifications.digests.domain import StatusChange, net_changes
from services.notifications.domain import RoleAssignment, holders_on
from services.notifications.intake.domain import effective_date, meeting_of
from shared.contracts import meetings
from tests.support.plan_events import history_corrected, status_changed

YEAR_2020 = RoleAssignment("VNM", date(2020, 1, 1), date(2020, 12, 31))


@pytest.mark.parametrize(
    "start, end, overlaps",
    [
        (date(2019, 1, 1), date(2019, 12, 31), False),
        (date(2019, 6, 1), date(2020, 1, 1), True),  # the first day is shared
        (date(2020, 12, 31), None, True),  # open-ended, from the last day
        (date(2021, 1, 1), None, False),
    ],
)
def test_periods_overlap_when_they_share_a_day(
    start: date, end: date | None, overlaps: bool
) -> None:
    other = RoleAssignment("BRN", start, end)
    assert YEAR_2020.overlaps(other) is overlaps
    assert other.overlaps(YEAR_2020) is overlaps


def test_a_meetings_role_is_held_for_that_meeting_only() -> None:
    meeting, other = uuid.uuid4(), uuid.uuid4()
    chairs = [
        RoleAssignment("VNM", date.min, meeting=meeting),
        RoleAssignment("UN", date.min, meeting=meeting),
        RoleAssignment("IDN", date.min, meeting=other),
    ]
    assert holders_on(chairs, date(2020, 9, 15), meeting) == ["UN", "VNM"]
    assert holders_on(chairs, date(2020, 9, 15), None) == []
    assert holders_on([YEAR_2020], date(2021, 1, 1)) == []


def test_the_date_an_event_is_about() -> None:
    received = datetime(2026, 11, 29, 6, tzinfo=UTC)
    assert effective_date(status_changed(effective_date=date(2017, 3, 1)), received) == date(
        2017, 3, 1
    )
    assert effective_date(history_corrected(), received) == date(2019, 6, 30)
    started = meetings.MeetingStarted(
        meeting_id=uuid.uuid4(),
        series="CPR",
        title="CPR",
        # 2020-09-14 at 23:00 UTC is already 2020-09-15 in Jakarta.
        starts_at=datetime(2020, 9, 14, 23, tzinfo=UTC),
        timezone="Asia/Jakarta",
        at=received,
    )
    assert effective_date(started, received) == date(2020, 9, 15)
    assert meeting_of(started) == started.meeting_id
    assert meeting_of(status_changed()) is None


def test_net_changes_keep_each_lines_first_and_last_status() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    changes = [
        StatusChange(b, "2.1", "ongoing", "on_hold", date(2021, 1, 1)),
        StatusChange(a, "1.1", "not_started", "ongoing", date(2021, 2, 1)),
        StatusChange(b, "2.1", "on_hold", "ongoing", date(2021, 3, 1)),
        StatusChange(a, "1.1", "ongoing", "completed", date(2021, 4, 1)),
    ]
    (only,) = net_changes(changes)
    assert (only.code, only.old_status, only.new_status, only.effective_date) == (
        "1.1",
        "not_started",
        "completed",
        date(2021, 4, 1),
    )

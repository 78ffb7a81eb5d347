"""The meeting lifecycle and the rules of a meeting's arrangements, without any server."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.meetings.domain import (
    TRANSITIONS,
    ForbiddenTransition,
    MeetingStatus,
    WrongState,
    check_can_change_arrangements,
    check_can_postpone,
    check_participants,
    check_schedule,
    meeting_date,
    transition,
    zone,
)
from shared.errors import Invalid

START = datetime(2020, 9, 15, 9, 0, tzinfo=UTC)


def test_a_meeting_goes_from_scheduled_to_in_progress_to_concluded() -> None:
    status = transition(MeetingStatus.SCHEDULED, MeetingStatus.IN_PROGRESS)
    assert transition(status, MeetingStatus.CONCLUDED) is MeetingStatus.CONCLUDED


@pytest.mark.parametrize("current", [MeetingStatus.SCHEDULED, MeetingStatus.IN_PROGRESS])
def test_a_meeting_not_over_yet_can_be_cancelled(current: MeetingStatus) -> None:
    assert transition(current, MeetingStatus.CANCELLED) is MeetingStatus.CANCELLED


def test_a_scheduled_meeting_cannot_conclude_without_starting() -> None:
    with pytest.raises(ForbiddenTransition) as caught:
        transition(MeetingStatus.SCHEDULED, MeetingStatus.CONCLUDED)
    assert caught.value.allowed == ["cancelled", "in_progress"]
    assert "from scheduled to concluded" in str(caught.value)


@pytest.mark.parametrize("final", [MeetingStatus.CONCLUDED, MeetingStatus.CANCELLED])
def test_nothing_moves_a_concluded_or_cancelled_meeting(final: MeetingStatus) -> None:
    assert TRANSITIONS[final] == frozenset()
    for requested in MeetingStatus:
        with pytest.raises(ForbiddenTransition):
            transition(final, requested)


def test_only_a_scheduled_meeting_can_be_postponed() -> None:
    check_can_postpone(MeetingStatus.SCHEDULED)
    with pytest.raises(WrongState, match="only a scheduled meeting"):
        check_can_postpone(MeetingStatus.IN_PROGRESS)


def test_arrangements_are_closed_once_the_meeting_is_over() -> None:
    check_can_change_arrangements(MeetingStatus.IN_PROGRESS)
    with pytest.raises(WrongState):
        check_can_change_arrangements(MeetingStatus.CONCLUDED)


def test_an_end_before_the_start_is_refused_on_ends_at() -> None:
    with pytest.raises(Invalid) as caught:
        check_schedule(START, START - timedelta(hours=1), "Asia/Jakarta")
    assert caught.value.field == "ends_at"


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(Invalid) as caught:
        check_schedule(START.replace(tzinfo=None), START + timedelta(hours=3), "Asia/Jakarta")
    assert caught.value.field == "starts_at"


def test_an_unknown_time_zone_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not an IANA time zone"):
        zone("Mars/Olympus_Mons")
    with pytest.raises(Invalid) as caught:
        check_schedule(START, START + timedelta(hours=3), "Mars/Olympus_Mons")
    assert caught.value.field == "timezone"


def test_the_meeting_date_is_the_date_where_it_is_held() -> None:
    late_in_utc = datetime(2020, 9, 14, 23, 30, tzinfo=UTC)
    assert meeting_date(late_in_utc, "Asia/Ho_Chi_Minh") == date(2020, 9, 15)
    assert meeting_date(late_in_utc, "America/New_York") == date(2020, 9, 14)


def test_a_co_chair_must_come_from_a_participating_delegation() -> None:
    check_participants(["VNM", "UN"], ["VNM", "UN"])
    with pytest.raises(Invalid) as caught:
        check_participants(["VNM", "UN"], ["VNM", "MMR"])
    assert caught.value.field == "co_chairs.1.delegation"
    assert "MMR is not a participant" in str(caught.value)


def test_a_participant_listed_twice_is_refused() -> None:
    with pytest.raises(Invalid) as caught:
        check_participants(["VNM", "UN", "VNM"], [])
    assert caught.value.field == "participants.2"

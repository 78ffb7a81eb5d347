import pytest

from services.plans.domain import (
    IATI_ACTIVITY_STATUS,
    TRANSITIONS,
    ForbiddenTransition,
    LineStatus,
    StaleVersion,
    change_status,
)


def test_every_status_has_an_iati_activity_status_code() -> None:
    assert {s: IATI_ACTIVITY_STATUS[s] for s in LineStatus} == {
        LineStatus.NOT_STARTED: 1,
        LineStatus.ONGOING: 2,
        LineStatus.COMPLETED: 4,
        LineStatus.DISCONTINUED: 5,
        LineStatus.ON_HOLD: 6,
    }


def test_an_allowed_transition_bumps_the_version() -> None:
    change = change_status(LineStatus.NOT_STARTED, 1, LineStatus.ONGOING, expected_version=1)
    assert (change.old, change.new, change.version) == (
        LineStatus.NOT_STARTED,
        LineStatus.ONGOING,
        2,
    )


def test_a_completed_line_can_be_reopened() -> None:
    assert change_status(LineStatus.COMPLETED, 4, LineStatus.ONGOING, 4).new is LineStatus.ONGOING


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (current, requested)
        for current in LineStatus
        for requested in LineStatus
        if requested not in TRANSITIONS[current]
    ],
)
def test_a_forbidden_transition_is_refused_naming_the_allowed_ones(
    current: LineStatus, requested: LineStatus
) -> None:
    with pytest.raises(ForbiddenTransition) as refused:
        change_status(current, 1, requested, expected_version=1)
    assert refused.value.allowed == sorted(TRANSITIONS[current])
    assert f"from {current} to {requested}" in str(refused.value)


def test_nothing_goes_back_to_not_started_and_no_status_loops_to_itself() -> None:
    for current, allowed in TRANSITIONS.items():
        assert LineStatus.NOT_STARTED not in allowed
        assert current not in allowed


def test_a_stale_version_is_refused_before_the_transition_is_considered() -> None:
    with pytest.raises(StaleVersion) as stale:
        change_status(LineStatus.ONGOING, 3, LineStatus.NOT_STARTED, expected_version=2)
    assert (stale.value.expected, stale.value.current) == (2, 3)

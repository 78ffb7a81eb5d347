"""Which decisions a meeting may adopt, and how their outcome and follow-up evolve."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.meetings.domain import (
    DecisionKind,
    FollowUp,
    MeetingStatus,
    Outcome,
    ReviewLineRef,
    WrongState,
    check_can_decide,
    check_status_review,
    check_submission_target,
    fulfil,
    initial_outcome,
    review_outcome,
)
from shared.errors import Invalid

PLAN = uuid.uuid4()
NOW = datetime(2020, 9, 15, 9, tzinfo=UTC)
DAY = NOW.date()


def test_decisions_are_adopted_only_while_the_meeting_is_in_progress() -> None:
    check_can_decide(MeetingStatus.IN_PROGRESS)
    for status in (MeetingStatus.SCHEDULED, MeetingStatus.CONCLUDED, MeetingStatus.CANCELLED):
        with pytest.raises(WrongState, match=f"this one is {status}"):
            check_can_decide(status)


def test_a_status_review_must_concern_a_plan_under_review() -> None:
    lines = [ReviewLineRef(None, "1.1")]
    check_status_review(PLAN, [PLAN], lines, DAY)
    with pytest.raises(Invalid) as caught:
        check_status_review(uuid.uuid4(), [PLAN], lines, DAY)
    assert caught.value.field == "plan_id"


def test_a_review_line_is_named_by_exactly_one_of_id_and_code() -> None:
    with pytest.raises(Invalid) as neither:
        check_status_review(PLAN, [PLAN], [ReviewLineRef(None, None)], DAY)
    with pytest.raises(Invalid):
        check_status_review(PLAN, [PLAN], [ReviewLineRef(uuid.uuid4(), "1.1")], DAY)
    assert neither.value.field == "lines.0"


def test_a_line_reviewed_twice_is_refused() -> None:
    with pytest.raises(Invalid, match="reviewed twice") as caught:
        check_status_review(
            PLAN,
            [PLAN],
            [ReviewLineRef(None, "1.1"), ReviewLineRef(None, "1.2"), ReviewLineRef(None, "1.1")],
            DAY,
        )
    assert caught.value.field == "lines.2"


def test_a_lines_own_date_may_be_earlier_than_the_reviews_never_later() -> None:
    earlier = ReviewLineRef(None, "1.1", date(2019, 11, 4))
    same = ReviewLineRef(None, "1.2", DAY)
    check_status_review(PLAN, [PLAN], [earlier, same], DAY)
    later = ReviewLineRef(None, "1.3", DAY + timedelta(days=1))
    with pytest.raises(Invalid) as caught:
        check_status_review(PLAN, [PLAN], [earlier, later], DAY)
    assert caught.value.field == "lines.1.effective_date"


def test_a_plan_is_submitted_to_a_later_scheduled_meeting() -> None:
    this, later = uuid.uuid4(), uuid.uuid4()
    check_submission_target(this, NOW, later, MeetingStatus.SCHEDULED, NOW + timedelta(days=30))
    with pytest.raises(Invalid, match="later meeting"):
        check_submission_target(this, NOW, later, MeetingStatus.SCHEDULED, NOW - timedelta(days=1))
    with pytest.raises(Invalid, match="later meeting"):
        check_submission_target(this, NOW, this, MeetingStatus.SCHEDULED, NOW)
    with pytest.raises(Invalid, match="cancelled"):
        check_submission_target(this, NOW, later, MeetingStatus.CANCELLED, NOW + timedelta(days=9))


def test_decisions_plans_applies_wait_for_its_answer_and_the_others_are_recorded() -> None:
    assert {k: initial_outcome(k) for k in DecisionKind} == {
        DecisionKind.STATUS_REVIEW: Outcome.PENDING,
        DecisionKind.PLAN_SUBMISSION: Outcome.PENDING,
        DecisionKind.PLAN_APPROVAL: Outcome.PENDING,
        DecisionKind.COMMITMENT: Outcome.RECORDED,
        DecisionKind.STATEMENT: Outcome.RECORDED,
    }


def test_a_review_with_some_rejected_lines_is_partly_applied() -> None:
    assert review_outcome(["applied", "unchanged"]) is Outcome.APPLIED
    assert review_outcome(["applied", "rejected"]) is Outcome.PARTLY_APPLIED
    assert review_outcome(["rejected", "rejected"]) is Outcome.REJECTED


def test_an_open_commitment_can_be_fulfilled_once() -> None:
    assert fulfil(DecisionKind.COMMITMENT, FollowUp.OPEN) is FollowUp.FULFILLED
    with pytest.raises(WrongState, match="already fulfilled"):
        fulfil(DecisionKind.COMMITMENT, FollowUp.FULFILLED)


def test_only_a_commitment_can_be_fulfilled() -> None:
    with pytest.raises(WrongState, match="only a commitment"):
        fulfil(DecisionKind.STATEMENT, None)

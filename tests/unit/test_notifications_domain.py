"""The notifications domain without I/O: matching, retries, endpoint health, membership,
digests."""

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notifications import domain
from services.notifications.digests import domain as digests
from services.notifications.domain import Membership, TargetKind
from services.notifications.intake import domain as intake
from services.notifications.intake.domain import SubscriptionRule
from services.notifications.webhooks import domain as webhooks
from services.notifications.webhooks.domain import AttemptResult, DeliveryStatus, EndpointAction
from shared.contracts import meetings, plans
from tests.support.plan_events import status_changed

NOW = datetime(2020, 9, 15, 9, 0, tzinfo=UTC)
SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
PLAN, PILLAR, AREA, LINE = (uuid.uuid4() for _ in range(4))
LINE_EVENT = status_changed(
    plan_id=PLAN,
    action_line_id=LINE,
    section_path=[PILLAR, AREA],
    tags=["peacekeeping", "humanitarian"],
)
PLAN_APPROVED = plans.PlanApproved(
    plan_id=PLAN,
    code="ASEAN-UN-2021",
    title="ASEAN-UN Plan of Action 2021-2025",
    old_status="submitted",
    new_status="approved",
    source=plans.ChangeSource(kind="api"),
    changed_at=NOW,
)


def rule(delegation: str, **fields: object) -> SubscriptionRule:
    values: dict = {
        "event_types": [],
        "statuses": [],
        "channels": ["webhook"],
        "cadence": "immediate",
    }
    values.update(fields)
    return SubscriptionRule(delegation=delegation, **values)


def test_a_line_event_matches_its_plan_each_section_the_line_and_each_tag() -> None:
    assert intake.targets(LINE_EVENT) == [
        (TargetKind.PLAN, str(PLAN)),
        (TargetKind.SECTION, str(PILLAR)),
        (TargetKind.SECTION, str(AREA)),
        (TargetKind.ACTION_LINE, str(LINE)),
        (TargetKind.TAG, "peacekeeping"),
        (TargetKind.TAG, "humanitarian"),
    ]


def test_a_meeting_event_matches_its_series_and_the_plans_it_concerns() -> None:
    decision = meetings.DecisionAdopted(
        meeting_id=uuid.uuid4(),
        series="ASEAN-UN CPR",
        meeting_title="CPR-UN meeting",
        meeting_date=date(2020, 9, 15),
        decision_id=uuid.uuid4(),
        title="The plan is approved",
        body=meetings.PlanApproval(plan_id=PLAN),
        adopted_at=NOW,
    )
    assert intake.targets(decision) == [
        (TargetKind.MEETING_SERIES, "ASEAN-UN CPR"),
        (TargetKind.PLAN, str(PLAN)),
    ]
    assert intake.is_critical(decision)
    statement = decision.model_copy(update={"body": meetings.Statement(text="Noted")})
    assert intake.targets(statement) == [(TargetKind.MEETING_SERIES, "ASEAN-UN CPR")]
    assert not intake.is_critical(statement)


def test_a_delegation_matching_several_ways_is_one_recipient_with_every_channel() -> None:
    rules = [rule("VNM"), rule("VNM", channels=["inbox"]), rule("MMR", channels=["stream"])]
    found = intake.recipients(rules, LINE_EVENT)
    assert sorted(found) == ["MMR", "VNM"]
    assert found["VNM"].immediate_channels == {"webhook", "inbox"}


@pytest.mark.parametrize(
    ("fields", "matches"),
    [
        ({"event_types": ["action_line.status_changed"]}, True),
        ({"event_types": [plans.ActionLineStatusChanged.event_type]}, True),
        ({"event_types": ["org.accord.plans.*"]}, True),
        ({"event_types": ["plan.approved"]}, False),
        ({"event_types": ["status_changed"]}, True),
        ({"statuses": ["completed"]}, True),
        ({"statuses": ["on_hold"]}, False),
    ],
)
def test_event_type_and_status_filters(fields: dict, matches: bool) -> None:
    assert bool(intake.recipients([rule("UN", **fields)], LINE_EVENT)) is matches


def test_a_digest_subscription_holds_an_ordinary_event_but_not_a_critical_one() -> None:
    rules = [rule("VNM", cadence="daily_digest", channels=["inbox"])]
    held = intake.recipients(rules, LINE_EVENT)["VNM"]
    assert (held.immediate_channels, held.digests) == (set(), {"daily_digest"})
    approved = intake.recipients(rules, PLAN_APPROVED)["VNM"]
    assert (approved.immediate_channels, approved.digests) == ({"inbox"}, set())


@pytest.mark.parametrize(
    ("tries", "result", "status", "delay"),
    [
        (1, AttemptResult(200), DeliveryStatus.SUCCEEDED, None),
        (1, AttemptResult(503), DeliveryStatus.PENDING, 5),
        (2, AttemptResult(None), DeliveryStatus.PENDING, 300),
        (1, AttemptResult(503, retry_after=60), DeliveryStatus.PENDING, 60),
        (1, AttemptResult(429, retry_after=10**9), DeliveryStatus.PENDING, 36000),
        (3, AttemptResult(503, retry_after=1), DeliveryStatus.PENDING, 1800),
        (8, AttemptResult(500), DeliveryStatus.FAILED, None),
        (1, AttemptResult(410), DeliveryStatus.PENDING, 0),
        (8, AttemptResult(410), DeliveryStatus.PENDING, 0),
        (1, AttemptResult(301), DeliveryStatus.PENDING, 5),
    ],
)
def test_the_retry_schedule(
    tries: int, result: AttemptResult, status: DeliveryStatus, delay: int | None
) -> None:
    decision = webhooks.after_attempt(result, tries, SCHEDULE, NOW, max_retry_after=36000)
    assert decision.status is status
    expected = None if delay is None else NOW + timedelta(seconds=delay)
    assert decision.next_attempt_at == expected


def test_a_retry_after_is_kept_as_the_time_before_which_nothing_is_sent_again() -> None:
    asked = webhooks.after_attempt(AttemptResult(503, 60), 1, SCHEDULE, NOW, 36000)
    assert asked.not_before == NOW + timedelta(seconds=60)
    assert webhooks.after_attempt(AttemptResult(503), 1, SCHEDULE, NOW, 36000).not_before is None


@pytest.mark.parametrize(
    ("status", "unreachable"),
    [(None, True), (429, True), (502, True), (503, True), (504, True), (500, False), (400, False)],
)
def test_only_no_answer_or_not_now_counts_as_the_endpoint_unreachable(
    status: int | None, unreachable: bool
) -> None:
    assert AttemptResult(status).unreachable is unreachable


RESUME_AT = NOW + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("result", "status", "next_attempt_at"),
    [
        (AttemptResult(200), DeliveryStatus.SUCCEEDED, None),
        (AttemptResult(None), DeliveryStatus.PENDING, RESUME_AT),
        (AttemptResult(503, retry_after=60), DeliveryStatus.PENDING, RESUME_AT),
        (AttemptResult(503, retry_after=3600), DeliveryStatus.PENDING, NOW + timedelta(hours=1)),
        (AttemptResult(410), DeliveryStatus.PENDING, NOW),
    ],
)
def test_a_failed_probe_keeps_the_deliverys_place_in_the_schedule(
    result: AttemptResult, status: DeliveryStatus, next_attempt_at: datetime | None
) -> None:
    decision = webhooks.after_probe(result, RESUME_AT, NOW, max_retry_after=36000)
    assert (decision.status, decision.next_attempt_at) == (status, next_attempt_at)


@pytest.mark.parametrize(
    ("result", "failing_for", "seconds"),
    [
        (AttemptResult(None), 0, 5),
        (AttemptResult(None), 30, 5),
        (AttemptResult(None), 600, 60),
        (AttemptResult(None), 86_400, 300),
        (AttemptResult(503, 2), 0, 5),
        (AttemptResult(503, 90), 0, 90),
    ],
)
def test_a_failing_endpoint_is_probed_more_rarely_the_longer_it_fails(
    result: AttemptResult, failing_for: float, seconds: float
) -> None:
    since = NOW - timedelta(seconds=failing_for)
    at = webhooks.next_probe(result, NOW, since, 5, 300, 36000)
    assert at == NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), ("Tue, 15 Sep 2020 09:01:00 GMT", 60.0), ("soon", None), (None, None)],
)
def test_retry_after_in_seconds_or_as_a_date(value: str | None, seconds: float | None) -> None:
    assert webhooks.parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("failing_for", "warned", "gone", "action"),
    [
        (timedelta(0), False, True, EndpointAction.DISABLE),
        (timedelta(days=1), False, False, EndpointAction.NONE),
        (timedelta(days=4), False, False, EndpointAction.WARN),
        (timedelta(days=9), False, False, EndpointAction.WARN),
        (timedelta(days=4, hours=1), True, False, EndpointAction.NONE),
        (timedelta(days=5), True, False, EndpointAction.DISABLE),
    ],
)
def test_an_endpoint_is_disabled_only_after_its_delegation_was_warned(
    failing_for: timedelta, warned: bool, gone: bool, action: EndpointAction
) -> None:
    assert (
        webhooks.endpoint_health(
            gone=gone,
            failing_since=NOW - failing_for,
            warned_at=NOW - timedelta(hours=1) if warned else None,
            now=NOW,
            disable_after=timedelta(days=5),
            warn_before=timedelta(days=1),
        )
        is action
    )


ASEAN = [
    Membership(code, date.fromisoformat(joined))
    for code, joined in [
        ("IDN", "1967-08-08"), ("MYS", "1967-08-08"), ("PHL", "1967-08-08"),
        ("SGP", "1967-08-08"), ("THA", "1967-08-08"), ("BRN", "1984-01-07"),
        ("VNM", "1995-07-28"), ("LAO", "1997-07-23"), ("MMR", "1997-07-23"),
        ("KHM", "1999-04-30"), ("TLS", "2025-10-26"),
    ]
]  # fmt: skip


def test_asean_has_ten_members_on_the_day_of_the_2020_cpr_meeting() -> None:
    assert len(domain.members_on(ASEAN, date(2020, 9, 15))) == 10
    assert "TLS" not in domain.members_on(ASEAN, date(2025, 10, 25))
    assert "TLS" in domain.members_on(ASEAN, date(2025, 10, 26))
    assert len(domain.members_on(ASEAN, date(1996, 1, 1))) == 7


def test_a_membership_ends_on_its_last_day() -> None:
    former = [Membership("XYZ", date(2000, 1, 1), date(2010, 12, 31))]
    assert domain.members_on(former, date(2010, 12, 31)) == ["XYZ"]
    assert domain.members_on(former, date(2011, 1, 1)) == []


def test_a_daily_digest_is_due_once_a_day_from_the_local_digest_hour() -> None:
    hanoi = ZoneInfo("Asia/Ho_Chi_Minh")  # UTC+7: 09:00 UTC is 16:00 there
    assert digests.daily_digest_due(NOW, hanoi, 9, None) == date(2020, 9, 15)
    assert digests.daily_digest_due(NOW, hanoi, 9, date(2020, 9, 15)) is None
    assert digests.daily_digest_due(NOW, hanoi, 17, None) is None


def test_a_meeting_digest_is_due_from_the_day_before_at_the_digest_hour_until_it_starts() -> None:
    jakarta = ZoneInfo("Asia/Jakarta")  # UTC+7
    starts = datetime(2020, 9, 15, 2, 0, tzinfo=UTC)  # 09:00 in Jakarta on the 15th
    opens = datetime(2020, 9, 14, 2, 0, tzinfo=UTC)  # 09:00 in Jakarta on the 14th
    assert not digests.meeting_digest_due(opens - timedelta(minutes=1), jakarta, 9, starts)
    assert digests.meeting_digest_due(opens, jakarta, 9, starts)
    assert not digests.meeting_digest_due(starts, jakarta, 9, starts)

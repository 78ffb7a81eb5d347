"""Briefings built from plans' events (produced here as the plans service would), and
frozen at conclusion."""

import uuid
from typing import Any

import httpx
import pytest

from tests.support.meetings import PlanFeed, act, briefing, meeting_body, schedule
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _briefing_when(
    http: httpx.AsyncClient,
    base: str,
    headers: dict[str, str],
    meeting_id: str,
    ready: Any,
    what: str,
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        result = await briefing(http, base, headers, meeting_id)
        return result if ready(result) else None

    return await eventually(probe, what=what)


async def test_the_briefing_shows_each_plan_as_of_the_meeting_and_the_change_since_the_last(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base = services.url("meetings")
    feed = PlanFeed(services.infra.kafka_admin).plan()
    politics = feed.pillar("1", "Political-Security Cooperation")
    economy = feed.pillar("2", "Economic Cooperation")
    lines = {
        code: feed.line(code, politics if code < "2" else economy)
        for code in ("1.1", "1.2", "2.1", "2.2")
    }
    feed.status(lines["1.1"], "completed", "2019-03-01")  # before the previous meeting
    feed.status(lines["2.1"], "completed", "2019-05-01")
    feed.status(lines["2.1"], "ongoing", "2020-02-01")  # reopened since
    feed.status(lines["1.2"], "completed", "2020-06-01")  # completed since
    feed.status(lines["2.2"], "completed", "2020-12-01")  # after the meeting: not counted
    await feed.publish()

    series = f"CPR-{uuid.uuid4().hex[:6]}"
    plans = {"plans_under_review": [str(feed.plan_id)]}
    previous = await schedule(
        http, base, secretariat_headers, meeting_body(series, "2019-09-27T09:00:00+07:00", **plans)
    )
    meeting = await schedule(
        http, base, secretariat_headers, meeting_body(series, "2020-09-15T09:00:00+07:00", **plans)
    )

    result = await _briefing_when(
        http,
        base,
        secretariat_headers,
        meeting["id"],
        lambda b: (
            b["plans"][0]["overall"]["total"] == 4
            and b["plans"][0]["overall"]["by_status"].get("not_started") == 1
        ),
        "the plan's events in the briefing",
    )
    assert (result["as_of"], result["frozen"]) == ("2020-09-15", False)
    plan = result["plans"][0]
    assert plan["title"] == "ASEAN-UN Plan of Action 2016-2020"
    assert plan["overall"] == {
        "total": 4,
        "by_status": {"completed": 2, "not_started": 1, "ongoing": 1},
        "completed": 2,
        "completion_rate": 50.0,
    }
    assert [(p["pillar"], p["completed"], p["total"]) for p in plan["per_pillar"]] == [
        ("Political-Security Cooperation", 2, 2),
        ("Economic Cooperation", 0, 2),
    ]
    changes = plan["changes_since_previous_meeting"]
    assert (changes["previous_meeting_id"], changes["since"]) == (previous["id"], "2019-09-27")
    assert (changes["completed_since"], changes["reopened_since"]) == (["1.2"], ["2.1"])
    assert [
        (c["pillar"], c["completed_since"], c["reopened_since"]) for c in changes["per_pillar"]
    ] == [
        ("Political-Security Cooperation", 1, 0),
        ("Economic Cooperation", 0, 1),
    ]
    first = await briefing(http, base, secretariat_headers, previous["id"])
    assert first["plans"][0]["changes_since_previous_meeting"] is None
    assert first["plans"][0]["overall"]["completed"] == 2


async def test_a_concluded_meetings_briefing_is_frozen_and_later_events_do_not_change_it(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base = services.url("meetings")
    feed = PlanFeed(services.infra.kafka_admin).plan()
    pillar = feed.pillar("1", "Political-Security Cooperation")
    first, second = feed.line("1.1", pillar), feed.line("1.2", pillar)
    feed.status(first, "completed", "2020-01-01")
    await feed.publish()
    plans = {"plans_under_review": [str(feed.plan_id)]}
    series = f"CPR-{uuid.uuid4().hex[:6]}"
    meeting = await schedule(
        http, base, secretariat_headers, meeting_body(series, "2020-09-15T09:00:00+07:00", **plans)
    )
    # A later meeting of the series, still live: it shows when the late event has arrived.
    witness = await schedule(
        http, base, secretariat_headers, meeting_body(series, "2021-09-15T09:00:00+07:00", **plans)
    )
    await _briefing_when(
        http,
        base,
        secretariat_headers,
        meeting["id"],
        lambda b: (
            b["plans"][0]["overall"]["completed"] == 1 and b["plans"][0]["overall"]["total"] == 2
        ),
        "the plan in the briefing",
    )
    await act(http, base, secretariat_headers, meeting["id"], "start")
    await act(http, base, secretariat_headers, meeting["id"], "conclude")
    frozen = await briefing(http, base, secretariat_headers, meeting["id"])
    assert frozen["frozen"] is True and frozen["frozen_at"] is not None

    feed.status(second, "completed", "2020-09-01")  # backdated: before the meeting
    await feed.publish()
    await _briefing_when(
        http,
        base,
        secretariat_headers,
        witness["id"],
        lambda b: b["plans"][0]["overall"]["completed"] == 2,
        "the late change in the live briefing",
    )
    assert await briefing(http, base, secretariat_headers, meeting["id"]) == frozen

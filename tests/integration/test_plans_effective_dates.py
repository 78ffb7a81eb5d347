"""Effective dates through the APIs: a date after today in the plan's time zone or before the
line's latest change is a 422 on `effective_date` (plans' status route, meetings' status
review); a correction of history is its own route and the rollups, their check and `as_of`
follow it."""

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from tests.support.api import add_action_line, create_plan
from tests.support.meetings import act, meeting_body, schedule
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def _after_today_everywhere() -> date:
    return datetime.now(UTC).date() + timedelta(days=2)


async def _status(
    http: httpx.AsyncClient, plans: str, headers: dict, line: dict, body: dict
) -> httpx.Response:
    return await http.patch(
        f"{plans}/action-lines/{line['id']}/status",
        json={"expected_version": line["version"], **body},
        headers=headers,
    )


def _fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["field"] for error in response.json()["errors"]]


async def test_a_status_change_dated_against_the_rule_is_a_422_on_effective_date(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    plan = await create_plan(http, plans, secretariat_headers, time_zone="Asia/Jakarta")
    assert plan["time_zone"] == "Asia/Jakarta"
    line = await add_action_line(http, plans, secretariat_headers, plan["id"])

    future = await _status(
        http,
        plans,
        secretariat_headers,
        line,
        {"status": "ongoing", "effective_date": _after_today_everywhere().isoformat()},
    )
    assert _fields(future) == ["body.effective_date"]

    started = await _status(
        http,
        plans,
        secretariat_headers,
        line,
        {"status": "ongoing", "effective_date": "2019-05-01"},
    )
    assert started.status_code == 200, started.text
    backdated = await _status(
        http,
        plans,
        secretariat_headers,
        started.json(),
        {"status": "completed", "effective_date": "2019-04-30"},
    )
    assert _fields(backdated) == ["body.effective_date"]
    assert "correct the history" in backdated.json()["detail"]


async def test_a_correction_of_history_is_followed_by_the_rollups_and_their_check(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    plan = await create_plan(http, plans, secretariat_headers)
    line = await add_action_line(
        http, plans, secretariat_headers, plan["id"], target_date="2019-12-31"
    )
    completed = await _status(
        http,
        plans,
        secretariat_headers,
        line,
        {"status": "completed", "effective_date": "2020-09-15"},
    )
    assert completed.status_code == 200, completed.text
    history = await http.get(
        f"{plans}/action-lines/{line['id']}/history", headers=secretariat_headers
    )
    [entry] = history.json()["items"]

    url = f"{plans}/action-lines/{line['id']}/history/{entry['id']}/corrections"
    too_late = await http.post(
        url,
        json={"effective_date": _after_today_everywhere().isoformat(), "reason": "typo"},
        headers={**secretariat_headers, "If-Match": '"2"'},
    )
    assert _fields(too_late) == ["body.effective_date"]
    corrected = await http.post(
        url,
        json={"effective_date": "2019-06-30", "reason": "completed at the June 2019 workshop"},
        headers={**secretariat_headers, "If-Match": '"2"'},
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.headers["ETag"] == '"3"'
    assert corrected.json()["effective_date"] == "2019-06-30"

    async def ahead_of_schedule() -> dict | None:
        response = await http.get(
            f"{plans}/plans/{plan['id']}/rollups", headers=secretariat_headers
        )
        figures: dict = response.json()["plan"]["figures"]
        return figures if figures["completed_ahead_of_schedule"] == 1 else None

    await eventually(ahead_of_schedule, what="the corrected completion in the rollups")
    check = await http.get(f"{plans}/plans/{plan['id']}/rollups/check", headers=secretariat_headers)
    assert check.json()["consistent"], check.json()
    as_of = await http.get(
        f"{plans}/plans/{plan['id']}/rollups",
        params={"as_of": "2019-07-01"},
        headers=secretariat_headers,
    )
    assert as_of.json()["plan"]["figures"]["completed"] == 1


async def test_a_status_review_dated_on_a_day_not_begun_anywhere_is_a_422(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, meetings = services.url("plans"), services.url("meetings")
    plan = await create_plan(http, plans, secretariat_headers)
    body = meeting_body(
        f"CPR-{uuid.uuid4().hex[:6]}", "2020-09-15T09:00:00+07:00", plans_under_review=[plan["id"]]
    )
    meeting = await schedule(http, meetings, secretariat_headers, body)
    await act(http, meetings, secretariat_headers, meeting["id"], "start")

    response = await http.post(
        f"{meetings}/meetings/{meeting['id']}/decisions",
        json={
            "title": "Review",
            "body": {
                "kind": "status_review",
                "plan_id": plan["id"],
                "effective_date": _after_today_everywhere().isoformat(),
                "lines": [{"code": "1.1", "status": "completed"}],
            },
        },
        headers=secretariat_headers,
    )
    assert _fields(response) == ["body.body.effective_date"]

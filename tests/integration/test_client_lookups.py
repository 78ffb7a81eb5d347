"""What a client looks up or keeps current without a search: a plan by its code, a
delegation's own details, and who attended a meeting, recorded as it concludes."""

import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import create_plan
from tests.support.meetings import act, known_to_meetings, meeting_body, schedule
from tests.support.notifications import headers_of, new_delegation
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

CONCLUDED = "org.accord.meetings.meeting.concluded"


async def test_a_plan_is_found_by_its_code(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    viewer_headers: dict[str, str],
) -> None:
    plans = services.url("plans")
    plan = await create_plan(http, plans, secretariat_headers)
    found = await http.get(f"{plans}/plans/by-code/{plan['code']}", headers=viewer_headers)
    assert found.status_code == 200, found.text
    assert found.json() == plan
    missing = await http.get(
        f"{plans}/plans/by-code/NO-SUCH-{uuid.uuid4().hex}", headers=viewer_headers
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_a_delegation_keeps_its_own_details_current(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base = services.url("notifications")
    code = await new_delegation(http, base, secretariat_headers, name="Mission of Test")
    other = await new_delegation(http, base, secretariat_headers)
    url = f"{base}/delegations/{code}"

    changed = await http.patch(
        url,
        json={"contact": "desk@example.org", "timezone": "Asia/Bangkok", "digest_hour": 7},
        headers=headers_of(code),
    )
    assert changed.status_code == 200, changed.text
    read = (await http.get(url, headers=headers_of(code))).json()
    assert read == {
        "code": code,
        "name": "Mission of Test",
        "timezone": "Asia/Bangkok",
        "contact": "desk@example.org",
        "digest_hour": 7,
    }
    renamed = await http.patch(
        url, json={"name": "Permanent Mission", "contact": None}, headers=secretariat_headers
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["contact"]) == ("Permanent Mission", None)

    assert (
        await http.patch(url, json={"contact": "x"}, headers=headers_of(other))
    ).status_code == 403
    for body, field in (
        ({"timezone": "Mars/Olympus_Mons"}, "body.timezone"),
        ({"name": None}, "body.name"),
        ({"code": "ZZZ"}, "body.code"),
    ):
        refused = await http.patch(url, json=body, headers=secretariat_headers)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == [field]
    unknown = await http.patch(
        f"{base}/delegations/ZZ{uuid.uuid4().hex[:6].upper()}",
        json={"contact": "x"},
        headers=secretariat_headers,
    )
    assert unknown.status_code == 404


async def test_attendance_is_recorded_as_a_meeting_concludes_and_published(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    meetings, base = services.url("meetings"), services.url("notifications")
    present = await new_delegation(http, base, secretariat_headers)
    excused = await new_delegation(http, base, secretariat_headers)
    # Meetings knows a delegation from notifications' event: wait for it, as a client would.
    await known_to_meetings(
        http,
        base,
        secretariat_headers,
        services.infra.database_url("meetings"),
        {present: present, excused: excused},
    )
    body = meeting_body(
        f"ATT-{uuid.uuid4().hex[:6]}",
        "2020-09-15T09:00:00+07:00",
        participants=[present],
        co_chairs=[],
    )
    meeting = await schedule(http, meetings, secretariat_headers, body)
    await act(http, meetings, secretariat_headers, meeting["id"], "start")
    twice = await http.post(
        f"{meetings}/meetings/{meeting['id']}/conclude",
        json={"attendance": [{"delegation": present, "attendance": "present"}] * 2},
        headers=secretariat_headers,
    )
    assert twice.status_code == 422, twice.text
    assert [e["field"] for e in twice.json()["errors"]] == ["body.attendance.1.delegation"]

    attendance = [
        {"delegation": present, "attendance": "present"},
        {"delegation": excused, "attendance": "excused"},
    ]
    concluded = await act(
        http, meetings, secretariat_headers, meeting["id"], "conclude", {"attendance": attendance}
    )
    assert concluded["status"] == "concluded"
    assert concluded["participants"] == attendance

    async def published() -> dict[str, Any] | None:
        response = await http.get(
            f"{base}/activity", params={"limit": 200}, headers=secretariat_headers
        )
        return next(
            (
                item["data"]
                for item in response.json()["items"]
                if item["event_type"] == CONCLUDED and item["data"]["meeting_id"] == meeting["id"]
            ),
            None,
        )

    event = await eventually(published, what="meeting.concluded taken in by notifications")
    assert event["attendance"] == attendance

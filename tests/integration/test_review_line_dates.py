"""A status review reports each line's own date (a completion reached before the meeting),
every other line taking the meeting's date: plans' journal and its history "as of" a date
follow the reported dates, and a date after the review's is refused on its field."""

import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import add_action_line, add_section, create_plan
from tests.support.meetings import act, decide, meeting_body, schedule
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _get(http: httpx.AsyncClient, url: str, headers: dict[str, str], **params: Any) -> Any:
    response = await http.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_line_takes_its_own_date_or_the_meetings(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, meetings, headers = services.url("plans"), services.url("meetings"), secretariat_headers
    plan = await create_plan(http, plans, headers)
    pillar = await add_section(http, plans, headers, plan["id"], code="1")
    early, on_the_day = [
        await add_action_line(http, plans, headers, plan["id"], code=c, section_id=pillar["id"])
        for c in ("1.1", "1.2")
    ]
    # 09:00 in Jakarta on the 15th is still the 15th there (02:00 UTC).
    body = meeting_body(
        f"CPR-{uuid.uuid4().hex[:6]}",
        "2020-09-15T09:00:00+07:00",
        participants=[],
        co_chairs=[],
        plans_under_review=[plan["id"]],
    )
    meeting = await schedule(http, meetings, headers, body)
    await act(http, meetings, headers, meeting["id"], "start")

    refused = await http.post(
        f"{meetings}/meetings/{meeting['id']}/decisions",
        json={
            "title": "Review",
            "body": {
                "kind": "status_review",
                "plan_id": plan["id"],
                "lines": [{"code": "1.1", "status": "completed", "effective_date": "2020-09-16"}],
            },
        },
        headers=headers,
    )
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["body.body.lines.0.effective_date"]

    decision = await decide(
        http,
        meetings,
        headers,
        meeting["id"],
        "Review of the Plan of Action",
        {
            "kind": "status_review",
            "plan_id": plan["id"],
            "lines": [
                {"code": "1.1", "status": "completed", "effective_date": "2019-11-04"},
                {"code": "1.2", "status": "completed"},
            ],
        },
    )
    published = decision["body"]
    assert published["effective_date"] == "2020-09-15"
    assert [line["effective_date"] for line in published["lines"]] == ["2019-11-04", "2020-09-15"]

    async def journalled() -> list[Any] | None:
        history = await _get(http, f"{plans}/plans/{plan['id']}/history", headers, limit=200)
        return history["items"] if len(history["items"]) == 2 else None

    entries = await eventually(journalled, what="both reviewed lines journalled in plans")
    dates = {entry["action_line_id"]: entry["effective_date"] for entry in entries}
    assert dates == {early["id"]: "2019-11-04", on_the_day["id"]: "2020-09-15"}

    url = f"{plans}/plans/{plan['id']}/rollups"
    end_of_2019 = await _get(http, url, headers, as_of="2019-12-31")
    assert end_of_2019["plan"]["figures"]["completed"] == 1
    at_the_meeting = await _get(http, url, headers, as_of="2020-09-15")
    assert at_the_meeting["plan"]["figures"]["completed"] == 2

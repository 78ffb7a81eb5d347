"""Published figures through the API: publishing is idempotent at one journal position, a
figure derived again holds until a later event changes it, and then that event is named."""

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tests.support.api import add_action_line, add_section, create_plan
from tests.support.stack import Services

pytestmark = pytest.mark.integration


async def _status(
    http: httpx.AsyncClient, plans: str, headers: dict, line: dict, body: dict
) -> dict:
    response = await http.patch(
        f"{plans}/action-lines/{line['id']}/status",
        json={"expected_version": line["version"], **body},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_figure_is_kept_derived_again_and_its_later_changes_named(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, h = services.url("plans"), secretariat_headers
    plan = await create_plan(http, plans, h)
    pillar = await add_section(http, plans, h, plan["id"], title="Political-Security")
    lines = [
        await add_action_line(http, plans, h, plan["id"], code=f"1.{i}", section_id=pillar["id"])
        for i in range(1, 4)
    ]
    first = await _status(
        http, plans, h, lines[0], {"status": "completed", "effective_date": "2019-03-01"}
    )
    await _status(http, plans, h, lines[1], {"status": "completed", "effective_date": "2020-03-01"})

    body = {"plan_id": plan["id"], "scope": f"section:{pillar['id']}", "as_of": "2019-12-31"}
    published = await http.post(f"{plans}/figures", json=body, headers=h)
    assert published.status_code == 201, published.text
    figure = published.json()
    assert figure["value"] == {"total": 3, "counted": 3, "completed": 1, "completion_percent": 33.3}
    assert figure["in_words"] == "1 of the 3 action lines (33.3 %)"
    assert figure["scope_title"] == "Political-Security" and figure["rule_version"] == 1
    assert figure["journal_position"] > 0 and figure["correction_position"] == 0
    again = await http.post(f"{plans}/figures", json=body, headers=h)
    assert again.status_code == 200 and again.json()["id"] == figure["id"]

    got = await http.get(f"{plans}/figures/{figure['id']}", headers=h)
    assert got.json() == figure
    rederive = f"{plans}{figure['links']['rederive']}"
    unchanged = (await http.get(rederive, headers=h)).json()
    assert unchanged["same"] and unchanged["later_events"] == []

    # The completion of 1.1 really took effect in 2020: a correction moves it across the
    # figure's day, which then reads 0 of 3 and names the correction.
    history = await http.get(f"{plans}/action-lines/{first['id']}/history", headers=h)
    [entry] = history.json()["items"]
    corrected = await http.post(
        f"{plans}/action-lines/{first['id']}/history/{entry['id']}/corrections",
        json={"effective_date": "2020-01-15", "reason": "the report was signed in January"},
        headers={**h, "If-Match": f'"{first["version"]}"'},
    )
    assert corrected.status_code == 200, corrected.text
    changed = (await http.get(rederive, headers=h)).json()
    assert not changed["same"]
    assert changed["published"]["completed"] == 1 and changed["now"]["completed"] == 0
    [event] = changed["later_events"]
    assert event["kind"] == "history_correction" and event["code"] == "1.1"
    assert "2019-03-01 to 2020-01-15" in event["detail"]
    # The figure itself never changes; publishing again now is another figure.
    assert (await http.get(f"{plans}/figures/{figure['id']}", headers=h)).json() == figure
    anew = await http.post(f"{plans}/figures", json=body, headers=h)
    assert anew.status_code == 201 and anew.json()["value"]["completed"] == 0


async def test_a_status_change_after_publishing_and_a_line_added_are_named(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, h = services.url("plans"), secretariat_headers
    plan = await create_plan(http, plans, h)
    line = await add_action_line(http, plans, h, plan["id"], code="2.1")
    today = datetime.now(UTC).date().isoformat()  # the plan keeps UTC's calendar
    published = await http.post(
        f"{plans}/figures", json={"plan_id": plan["id"], "as_of": today}, headers=h
    )
    figure = published.json()
    assert figure["value"]["completed"] == 0 and figure["value"]["counted"] == 1

    await _status(http, plans, h, line, {"status": "completed"})
    await add_action_line(http, plans, h, plan["id"], code="2.2")
    changed = (await http.get(f"{plans}/figures/{figure['id']}/rederivation", headers=h)).json()
    assert changed["now"]["completed"] == 1 and changed["now"]["counted"] == 2
    kinds = sorted((e["kind"], e["code"]) for e in changed["later_events"])
    assert kinds == [("line_added", "2.2"), ("status_change", "2.1")]


async def test_bad_figure_requests_are_problems_on_the_field_at_fault(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, h = services.url("plans"), secretariat_headers
    plan = await create_plan(http, plans, h)
    cases = [
        ({"plan_id": plan["id"], "as_of": "2999-01-01"}, 422, "body.as_of"),
        ({"plan_id": plan["id"], "as_of": "2020-01-01", "scope": "section:x"}, 422, "body.scope"),
        ({"plan_id": plan["id"], "as_of": "2020-01-01", "scope": "pillar"}, 422, "body.scope"),
        # No line of the plan carries them (found by a review: any tag or lead was taken, so a
        # caller could add rows and events without end).
        ({"plan_id": plan["id"], "as_of": "2020-01-01", "scope": "tag:x1"}, 422, "body.scope"),
        ({"plan_id": plan["id"], "as_of": "2020-01-01", "scope": "lead:X1"}, 422, "body.scope"),
        (
            {"plan_id": plan["id"], "as_of": "2020-01-01", "rule_version": 99},
            422,
            "body.rule_version",
        ),
        ({"plan_id": plan["id"], "as_of": "not a date"}, 422, "body.as_of"),
        ({"plan_id": str(uuid.uuid4()), "as_of": "2020-01-01"}, 422, "body.plan_id"),
    ]
    for body, status, field in cases:
        response = await http.post(f"{plans}/figures", json=body, headers=h)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], response.text
    missing = await http.get(f"{plans}/figures/{plan['id']}", headers=h)
    assert missing.status_code == 404

"""A status change flows end to end: plans -> outbox -> Kafka -> notifications."""

import httpx
import pytest

from tests.support.api import activity, add_action_line, add_section, create_plan
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

STATUS_CHANGED = "org.accord.plans.action_line.status_changed"


async def test_a_status_change_reaches_notifications_through_kafka(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, notifications = services.url("plans"), services.url("notifications")
    plan = await create_plan(http, plans, secretariat_headers)
    section = await add_section(http, plans, secretariat_headers, plan["id"], code="1")
    line = await add_action_line(
        http,
        plans,
        secretariat_headers,
        plan["id"],
        code="1.2.3",
        section_id=section["id"],
        tags=["peacekeeping"],
    )

    response = await http.patch(
        f"{plans}/action-lines/{line['id']}/status",
        json={"status": "ongoing", "note": "workshop planned"},
        headers={**secretariat_headers, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    assert response.json()["status"] == "ongoing"

    async def status_change_seen() -> list[dict] | None:
        items = await activity(http, notifications, secretariat_headers, plan["id"])
        changes = [i for i in items if i["event_type"] == STATUS_CHANGED]
        return changes or None

    changes = await eventually(status_change_seen, what="the status change in notifications")
    assert len(changes) == 1
    data = changes[0]["data"]
    assert (data["action_line_id"], data["old_status"], data["new_status"], data["version"]) == (
        line["id"],
        "not_started",
        "ongoing",
        2,
    )
    assert data["code"] == "1.2.3"
    assert data["section_path"] == [section["id"]]
    assert data["tags"] == ["peacekeeping"]
    assert data["source"] == {"kind": "api", "id": None}


async def test_a_stale_version_and_a_forbidden_transition_change_nothing(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    plan = await create_plan(http, plans, secretariat_headers)
    line = await add_action_line(http, plans, secretariat_headers, plan["id"])
    url = f"{plans}/action-lines/{line['id']}/status"

    completed = await http.patch(
        url, json={"status": "completed", "expected_version": 1}, headers=secretariat_headers
    )
    assert completed.status_code == 200

    stale = await http.patch(
        url, json={"status": "ongoing", "expected_version": 1}, headers=secretariat_headers
    )
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "application/problem+json"
    assert "version 1 was expected" in stale.json()["detail"]

    stale_header = await http.patch(
        url, json={"status": "ongoing"}, headers={**secretariat_headers, "If-Match": '"1"'}
    )
    assert stale_header.status_code == 412

    forbidden = await http.patch(
        url, json={"status": "not_started", "expected_version": 2}, headers=secretariat_headers
    )
    assert forbidden.status_code == 409
    assert forbidden.json()["allowed"] == ["ongoing"]

    current = await http.get(f"{plans}/action-lines/{line['id']}", headers=secretariat_headers)
    assert (current.json()["status"], current.json()["version"]) == ("completed", 2)
    assert current.headers["ETag"] == '"2"'

"""The workflow is in the contract: every action line and plan the API returns says where it
may go next (`allowed_transitions`), and the schema in the served OpenAPI document states the
whole state machine (`x-state-machine`), which the service then enforces exactly."""

from typing import Any

import httpx
import pytest

from tests.support.api import add_action_line, create_plan
from tests.support.stack import Services

pytestmark = pytest.mark.integration

# A walk that visits every line status, each move an allowed one.
WALK = ["on_hold", "ongoing", "discontinued", "ongoing", "completed", "ongoing"]


async def _machine(http: httpx.AsyncClient, plans: str, schema: str) -> dict[str, list[str]]:
    document = (await http.get(f"{plans}/openapi.json")).json()
    machine: dict[str, list[str]] = document["components"]["schemas"][schema]["x-state-machine"]
    return machine


async def test_a_line_says_where_it_may_go_and_the_service_holds_to_the_schemas_machine(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, headers = services.url("plans"), secretariat_headers
    machine = await _machine(http, plans, "ActionLineRead")
    assert set(machine) == {"not_started", "ongoing", "completed", "on_hold", "discontinued"}
    plan = await create_plan(http, plans, headers)
    line: dict[str, Any] = await add_action_line(http, plans, headers, plan["id"])

    for next_status in WALK:
        current = line["status"]
        assert line["allowed_transitions"] == machine[current], current
        read = (await http.get(f"{plans}/action-lines/{line['id']}", headers=headers)).json()
        assert read["allowed_transitions"] == machine[current]
        for refused in sorted(set(machine) - set(machine[current])):
            response = await http.patch(
                f"{plans}/action-lines/{line['id']}/status",
                json={"status": refused, "expected_version": line["version"]},
                headers=headers,
            )
            assert response.status_code == 409, (current, refused, response.text)
            assert response.json()["allowed"] == machine[current]
        assert next_status in line["allowed_transitions"]
        response = await http.patch(
            f"{plans}/action-lines/{line['id']}/status",
            json={"status": next_status, "expected_version": line["version"]},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        line = response.json()
        assert line["status"] == next_status
    assert {"not_started", *WALK} == set(machine)


async def test_a_plan_says_where_its_lifecycle_may_go(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, headers = services.url("plans"), secretariat_headers
    machine = await _machine(http, plans, "PlanRead")
    plan = await create_plan(http, plans, headers)
    assert plan["allowed_transitions"] == machine["draft"] == ["submitted"]
    for action, status in (
        ("submit", "submitted"),
        ("approve", "approved"),
        ("activate", "active"),
    ):
        response = await http.post(f"{plans}/plans/{plan['id']}/{action}", json={}, headers=headers)
        assert response.status_code == 200, response.text
        plan = response.json()
        assert plan["allowed_transitions"] == machine[status]
    listed = (await http.get(f"{plans}/plans", params={"limit": 200}, headers=headers)).json()
    assert all(p["allowed_transitions"] == machine[p["status"]] for p in listed["items"])

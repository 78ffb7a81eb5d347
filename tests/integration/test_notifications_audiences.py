"""Subscriptions addressed to a grouping or a rotating role, end to end: plans' events through
the broker reach the grouping's members and the role's holders **on each change's effective
date**, each delegation once; roles are recorded through the API, whose refusals name the
field at fault."""

from typing import Any

import httpx
import pytest

from tests.support.api import add_action_line, create_plan
from tests.support.notifications import headers_of, listed, new_delegation
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def post(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    response = await http.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def addressed_subscription(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], plan_id: str, **audience: str
) -> None:
    """The secretariat's subscription to a plan for a grouping or a role, once notifications
    has taken in the plan's event (422 on target_key until then)."""
    body = {"target_kind": "plan", "target_key": plan_id, "channels": ["inbox"], **audience}

    async def subscribed() -> httpx.Response | None:
        response = await http.post(f"{base}/subscriptions", json=body, headers=headers)
        if response.status_code == 422 and "body.target_key" in response.text:
            return None
        return response

    response = await eventually(subscribed, what="notifications to know the plan")
    assert response.status_code == 201, response.text
    assert response.json()["delegation_code"] is None


async def test_grouping_and_role_subscriptions_follow_the_effective_date(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, base, headers = services.url("plans"), services.url("notifications"), secretariat_headers
    founder, joined_2020, chair_2019, chair_2020 = [
        await new_delegation(http, base, headers) for _ in range(4)
    ]
    grouping = f"G{founder}"
    await post(
        http,
        f"{base}/groupings/{grouping}/members",
        {"delegation": founder, "valid_from": "2016-01-01"},
        headers,
    )
    await post(
        http,
        f"{base}/groupings/{grouping}/members",
        {"delegation": joined_2020, "valid_from": "2020-01-01"},
        headers,
    )
    role = f"Chair of {grouping}"
    await post(http, f"{base}/roles", {"name": role, "single_holder": True}, headers)
    for code, year in ((chair_2019, 2019), (chair_2020, 2020)):
        await post(
            http,
            f"{base}/role-assignments",
            {
                "role": role,
                "delegation": code,
                "valid_from": f"{year}-01-01",
                "valid_to": f"{year}-12-31",
            },
            headers,
        )
    holders = await http.get(
        f"{base}/roles/{role}/holders", params={"on": "2020-09-15"}, headers=headers
    )
    assert holders.json()["holders"] == [chair_2020]

    plan = await create_plan(http, plans, headers)
    line = await add_action_line(http, plans, headers, plan["id"])
    await addressed_subscription(http, base, headers, plan["id"], grouping=grouping)
    await addressed_subscription(http, base, headers, plan["id"], role=role)
    # The founder follows the plan itself too: it is still told once per change.
    await post(
        http,
        f"{base}/subscriptions",
        {"target_kind": "plan", "target_key": plan["id"], "channels": ["inbox"]},
        headers_of(founder),
    )

    for status, effective in (("ongoing", "2019-06-30"), ("completed", "2020-09-15")):
        response = await http.patch(
            f"{plans}/action-lines/{line['id']}/status",
            json={
                "status": status,
                "expected_version": line["version"],
                "effective_date": effective,
            },
            headers=headers,
        )
        assert response.status_code == 200, response.text
        line.update(response.json())

    async def inboxes() -> dict[str, list[str]] | None:
        found = {}
        for code in (founder, joined_2020, chair_2019, chair_2020):
            entries = await listed(http, f"{base}/inbox", headers_of(code))
            found[code] = [
                e["title"].rsplit(" -> ", 1)[1]
                for e in entries
                if e["event_type"].endswith("status_changed")
            ]
        return found if len(found[founder]) >= 2 else None

    told = await eventually(inboxes, timeout=60, what="both changes told")
    assert told == {
        founder: ["completed", "ongoing"],  # newest first, once each
        joined_2020: ["completed"],  # nothing dated before it joined
        chair_2019: ["ongoing"],
        chair_2020: ["completed"],
    }


async def test_role_refusals_name_the_field(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base, headers = services.url("notifications"), secretariat_headers
    holder, other = [await new_delegation(http, base, headers) for _ in range(2)]
    role = f"Chair {holder}"
    await post(http, f"{base}/roles", {"name": role, "single_holder": True}, headers)
    await post(
        http,
        f"{base}/role-assignments",
        {"role": role, "delegation": holder, "valid_from": "2020-01-01", "valid_to": "2020-12-31"},
        headers,
    )

    async def refused(path: str, body: dict[str, Any], auth: dict[str, str] = headers) -> tuple:
        response = await http.post(f"{base}{path}", json=body, headers=auth)
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json", response.text
        return response.status_code, [e["field"] for e in problem.get("errors", [])]

    assignment = {"role": role, "delegation": other, "valid_from": "2020-06-01"}
    assert await refused("/role-assignments", assignment) == (422, ["body.valid_from"])
    assert await refused("/role-assignments", assignment | {"role": "No such role"}) == (
        422,
        ["body.role"],
    )
    assert await refused("/role-assignments", assignment | {"role": "co-chairs"}) == (
        422,
        ["body.role"],
    )
    assert await refused(
        "/role-assignments", assignment | {"valid_from": "2021-01-01", "valid_to": "2020-01-01"}
    ) == (422, ["body.valid_to"])
    assert await refused("/role-assignments", assignment | {"delegation": "NOSUCH"}) == (
        422,
        ["body.delegation"],
    )
    assert await refused("/roles", {"name": role, "single_holder": False}) == (409, [])
    subscription = {"target_kind": "tag", "target_key": "humanitarian", "role": role}
    assert await refused("/subscriptions", subscription, headers_of(holder)) == (403, [])
    assert await refused("/subscriptions", subscription | {"delegation": holder}) == (
        422,
        ["body.role"],
    )
    assert await refused("/subscriptions", subscription | {"role": "No such role"}) == (
        422,
        ["body.role"],
    )
    # After the 2020 holder's period, another may hold it.
    await post(http, f"{base}/role-assignments", assignment | {"valid_from": "2021-01-01"}, headers)

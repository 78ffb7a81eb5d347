"""Client-side helpers: what a client app does through the public HTTP APIs."""

import uuid
from typing import Any

import httpx


async def create_plan(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {
        "code": f"TEST-{uuid.uuid4().hex[:8]}",
        "title": "A plan of action under test",
        "partners": ["ASEAN", "UN"],
        "period_start": "2016-01-01",
        "period_end": "2020-12-31",
        **fields,
    }
    response = await http.post(f"{base}/plans", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def add_section(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], plan_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"code": uuid.uuid4().hex[:6], "title": "A pillar", **fields}
    response = await http.post(f"{base}/plans/{plan_id}/sections", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def add_action_line(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], plan_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"code": uuid.uuid4().hex[:6], "text": "Hold a regional workshop", **fields}
    response = await http.post(f"{base}/plans/{plan_id}/action-lines", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def activity(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], plan_id: str
) -> list[dict[str, Any]]:
    response = await http.get(
        f"{base}/activity", params={"plan_id": plan_id, "limit": 200}, headers=headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def change_status(
    http: httpx.AsyncClient, base: str, headers: dict[str, str], line: dict[str, Any], status: str
) -> None:
    """Move ``line`` (as the API returned it) to ``status``; ``line`` becomes the answer."""
    response = await http.patch(
        f"{base}/action-lines/{line['id']}/status",
        json={"status": status, "expected_version": line["version"]},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    line.update(response.json())

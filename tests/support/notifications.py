"""What a delegation does through the notifications API, for the integration tests."""

import asyncio
import json
import secrets
import string
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from shared.auth import Role
from tests.support.stack import token
from tests.support.waiting import eventually

STATUS_CHANGED = "org.accord.plans.action_line.status_changed"


def headers_of(code: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(Role.DELEGATION, code)}"}


async def new_delegation(
    http: httpx.AsyncClient, base: str, secretariat: dict[str, str], name: str = "Test mission"
) -> str:
    """A delegation of its own for one test (a random code), so tests never share one."""
    code = "T" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(7))
    response = await http.post(
        f"{base}/delegations",
        json={"code": code, "name": name, "timezone": "Asia/Ho_Chi_Minh"},
        headers=secretariat,
    )
    assert response.status_code == 201, response.text
    return code


async def subscribe(
    http: httpx.AsyncClient, base: str, code: str, kind: str, key: str, **fields: Any
) -> dict[str, Any]:
    """Subscribe as a client does: a target created a moment ago is refused (422 on
    target_key) until notifications has taken in its event, so try again until it has."""
    body = {"target_kind": kind, "target_key": key, **fields}

    async def subscribed() -> httpx.Response | None:
        response = await http.post(f"{base}/subscriptions", json=body, headers=headers_of(code))
        not_yet = response.status_code == 422 and [
            e["field"] for e in response.json()["errors"]
        ] == ["body.target_key"]
        return None if not_yet else response

    response = await eventually(subscribed, what=f"notifications to know {kind} {key}")
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def register_endpoint(
    http: httpx.AsyncClient, base: str, code: str, url: str, **fields: Any
) -> dict[str, Any]:
    response = await http.post(
        f"{base}/endpoints", json={"url": url, **fields}, headers=headers_of(code)
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def listed(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], **params: str
) -> list[dict]:
    response = await http.get(url, params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict] = response.json()["items"]
    return items


@asynccontextmanager
async def live_stream(
    base: str, headers: dict[str, str], last_event_id: int | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """Collect the SSE events of a stream while the block runs."""
    events: list[dict[str, Any]] = []
    opened = asyncio.Event()
    extra = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}

    async def read() -> None:
        async with (
            httpx.AsyncClient(timeout=None) as client,
            client.stream("GET", f"{base}/stream", headers={**headers, **extra}) as response,
        ):
            assert response.status_code == 200
            current: dict[str, Any] = {}
            async for line in response.aiter_lines():
                opened.set()
                if line.startswith("id: "):
                    current["id"] = int(line[4:])
                elif line.startswith("data: "):
                    current["data"] = json.loads(line[6:])
                elif line == "" and "data" in current:
                    events.append(current)
                    current = {}

    task = asyncio.create_task(read())
    await asyncio.wait_for(opened.wait(), 10)
    try:
        yield events
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

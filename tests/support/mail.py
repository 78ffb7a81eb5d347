"""What reached the suite's Mailpit, read through its HTTP API, and its chaos switch (SMTP
errors on demand), for the email tests."""

from typing import Any

import httpx

from tests.support.notifications import headers_of


async def messages_to(http: httpx.AsyncClient, mailpit: str, address: str) -> list[dict[str, Any]]:
    """Every message Mailpit holds for ``address`` (its summaries), oldest first."""
    response = await http.get(
        f"{mailpit}/api/v1/search", params={"query": f'to:"{address}"', "limit": 500}
    )
    assert response.status_code == 200, response.text
    found = [
        m for m in response.json()["messages"] if any(to["Address"] == address for to in m["To"])
    ]
    return sorted(found, key=lambda m: m["Created"])


async def message(http: httpx.AsyncClient, mailpit: str, message_id: str) -> dict[str, Any]:
    """One message in full: ``Text``, ``HTML``, ``MessageID``, headers' values."""
    response = await http.get(f"{mailpit}/api/v1/message/{message_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def chaos(http: httpx.AsyncClient, mailpit: str, *, recipient_error: int | None) -> None:
    """Make Mailpit refuse every recipient with ``recipient_error`` (None: accept again)."""
    trigger = {"ErrorCode": recipient_error or 451, "Probability": 100 if recipient_error else 0}
    response = await http.put(f"{mailpit}/api/v1/chaos", json={"Recipient": trigger})
    assert response.status_code == 200, response.text


async def add_contact(
    http: httpx.AsyncClient, base: str, code: str, address: str, **fields: Any
) -> dict[str, Any]:
    body = {"name": f"Contact {address}", "address": address, "role": "desk_officer", **fields}
    response = await http.post(f"{base}/contacts", json=body, headers=headers_of(code))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def emails(http: httpx.AsyncClient, base: str, code: str) -> list[dict[str, Any]]:
    """The delegation's email log (``GET /emails``)."""
    response = await http.get(f"{base}/emails", params={"limit": 200}, headers=headers_of(code))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items

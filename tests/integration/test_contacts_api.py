"""A delegation's contacts through the API: a delegation manages its own and the secretariat
any delegation's; bad input is an RFC 9457 problem naming the field (an address that is not
one, an unknown role, a language that is not a tag), a second contact with one address a
conflict, another delegation's contact not found."""

import uuid

import httpx
import pytest

from tests.support.mail import add_contact
from tests.support.notifications import headers_of, new_delegation
from tests.support.stack import Services

pytestmark = pytest.mark.integration


def an_address() -> str:
    return f"officer.{uuid.uuid4().hex[:8]}@mission.example.org"


@pytest.mark.parametrize(
    "field, value, at_fault",
    [
        ("address", "not an address", "body.address"),
        ("address", "two@at@example.org", "body.address"),
        ("address", "officer@", "body.address"),
        ("role", "chauffeur", "body.role"),
        ("language", "english please", "body.language"),
        ("event_types", ["ok", ""], "body.event_types.1"),
    ],
)
async def test_bad_input_names_the_field(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    field: str,
    value: object,
    at_fault: str,
) -> None:
    base = services.url("notifications")
    code = await new_delegation(http, base, secretariat_headers)
    body = {"name": "Lan", "address": an_address(), "role": "ambassador", field: value}
    response = await http.post(f"{base}/contacts", json=body, headers=headers_of(code))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [at_fault]


async def test_a_delegation_manages_its_own_and_the_secretariat_any(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base = services.url("notifications")
    own = await new_delegation(http, base, secretariat_headers)
    other = await new_delegation(http, base, secretariat_headers)
    # The address as the validator normalises it: the domain in lower case.
    contact = await add_contact(
        http, base, own, "Lan.Nguyen@MISSION.Example.ORG", role="technical", language="vi-VN"
    )
    assert contact["address"] == "Lan.Nguyen@mission.example.org"
    assert (contact["delegation_code"], contact["role"], contact["language"]) == (
        own,
        "technical",
        "vi-VN",
    )
    url = f"{base}/contacts/{contact['id']}"

    for_other = await http.post(
        f"{base}/contacts",
        json={"delegation": other, "name": "X", "address": an_address(), "role": "ambassador"},
        headers=headers_of(own),
    )
    assert for_other.status_code == 403, for_other.text
    for method in ("GET", "PATCH", "DELETE"):
        response = await http.request(
            method, url, headers=headers_of(other), **({"json": {}} if method == "PATCH" else {})
        )
        assert response.status_code == 404, (method, response.text)

    again = await http.post(
        f"{base}/contacts",
        json={"name": "Lan again", "address": contact["address"], "role": "ambassador"},
        headers=headers_of(own),
    )
    assert again.status_code == 409, again.text

    changed = await http.patch(
        url, json={"event_types": ["action_line.status_changed"]}, headers=headers_of(own)
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["event_types"] == ["action_line.status_changed"]
    cleared = await http.patch(url, json={"address": None}, headers=headers_of(own))
    assert cleared.status_code == 422, cleared.text
    assert [e["field"] for e in cleared.json()["errors"]] == ["body.address"]

    by_secretariat = await http.post(
        f"{base}/contacts",
        json={"delegation": other, "name": "Y", "address": an_address(), "role": "desk_officer"},
        headers=secretariat_headers,
    )
    assert by_secretariat.status_code == 201, by_secretariat.text
    listed = await http.get(f"{base}/contacts", headers=headers_of(other))
    assert [c["id"] for c in listed.json()["items"]] == [by_secretariat.json()["id"]]

    removed = await http.delete(url, headers=secretariat_headers)
    assert removed.status_code == 204
    assert (await http.get(url, headers=headers_of(own))).status_code == 404

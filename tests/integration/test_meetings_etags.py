"""Meetings carry their version as an ETag, and a change sent with `If-Match` happens only if
nobody changed the meeting meanwhile: a stale one is a 412 with the current ETag and changes
nothing (the lost update two secretariat users would otherwise make)."""

import uuid

import httpx
import pytest

from tests.support.meetings import meeting_body
from tests.support.stack import Services

pytestmark = pytest.mark.integration

LATER = {"starts_at": "2020-09-16T09:00:00+07:00", "ends_at": "2020-09-16T12:00:00+07:00"}


async def test_a_change_with_a_stale_if_match_is_refused_and_changes_nothing(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base, headers = services.url("meetings"), secretariat_headers
    body = meeting_body(
        f"ETAG-{uuid.uuid4().hex[:6]}", "2020-09-15T09:00:00+07:00", participants=[], co_chairs=[]
    )
    created = await http.post(f"{base}/meetings", json=body, headers=headers)
    assert created.status_code == 201, created.text
    meeting = created.json()
    url = f"{base}/meetings/{meeting['id']}"
    read = await http.get(url, headers=headers)
    seen = read.headers["etag"]
    assert seen == created.headers["etag"] == f'"{meeting["version"]}"'

    # Someone else postpones it first, with the ETag both saw.
    first = await http.post(f"{url}/postpone", json=LATER, headers={**headers, "If-Match": seen})
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == f'"{first.json()["version"]}"' != seen

    stale = await http.post(f"{url}/cancel", json={}, headers={**headers, "If-Match": seen})
    assert stale.status_code == 412, stale.text
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.headers["etag"] == first.headers["etag"]
    assert (await http.get(url, headers=headers)).json()["status"] == "scheduled"

    current = first.headers["etag"]
    refused = await http.post(
        f"{url}/agenda-items",
        json={"title": "Review of the plan"},
        headers={**headers, "If-Match": seen},
    )
    assert refused.status_code == 412, refused.text
    assert (await http.get(url, headers=headers)).json()["agenda"] == []

    started = await http.post(f"{url}/start", headers={**headers, "If-Match": current})
    assert started.status_code == 200, started.text
    malformed = await http.post(f"{url}/cancel", json={}, headers={**headers, "If-Match": "x"})
    assert malformed.status_code == 400
    assert [e["field"] for e in malformed.json()["errors"]] == ["header.if-match"]
    # Without If-Match a change is made as before.
    concluded = await http.post(f"{url}/conclude", json={}, headers=headers)
    assert concluded.status_code == 200, concluded.text

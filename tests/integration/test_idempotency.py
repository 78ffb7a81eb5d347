"""Retries without fear: a POST sent again with its Idempotency-Key gets the first answer and
has no second effect, in every service; another body with the key is refused; requests racing
with one key have one effect; keys are each caller's own."""

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from shared.db import asyncpg_dsn
from shared.tokens import Role
from shared.topics import PLANS_EVENTS
from tests.support.kafka import plan_created_event, produce
from tests.support.meetings import meeting_body
from tests.support.notifications import new_delegation
from tests.support.stack import Services, token
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

KEY_FIELD = "header.idempotency-key"
ANSWER_HEADERS = ("content-type", "location", "etag", "cache-control")


@dataclass(frozen=True)
class Creation:
    """A POST that creates something, how to make a body for it, and how to count what it
    made (the effects)."""

    service: str
    path: str

    def body(self, tag: str, variant: int = 0) -> dict[str, Any]:
        if self.service == "plans":
            return {
                "code": f"IDEM-{tag}",
                "title": f"Plan {variant}",
                "partners": ["ASEAN", "UN"],
                "period_start": "2016-01-01",
                "period_end": "2020-12-31",
            }
        if self.service == "meetings":
            return meeting_body(
                tag,
                "2020-09-15T09:00:00+07:00",
                participants=[],
                co_chairs=[],
                place=f"Room {variant}",
            )
        return {
            "target_kind": "tag",
            "target_key": tag,
            "event_types": [],
            **({"statuses": ["completed"]} if variant else {}),
        }

    async def effects(
        self, http: httpx.AsyncClient, base: str, headers: dict[str, str], tag: str
    ) -> int:
        if self.service == "plans":
            items = await _items(http, f"{base}/plans", headers)
            return sum(1 for p in items if p["code"] == f"IDEM-{tag}")
        if self.service == "meetings":
            items = await _items(http, f"{base}/meetings", headers, series=tag)
            return sum(1 for m in items if m["series"] == tag)
        items = await _items(http, f"{base}/subscriptions", headers)
        return sum(1 for s in items if s["target_key"] == tag)


CREATIONS = [
    Creation("plans", "/plans"),
    Creation("meetings", "/meetings"),
    Creation("notifications", "/subscriptions"),
]


async def _items(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    response = await http.get(url, params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _headers_of(subject: str, delegation: str | None = None) -> dict[str, str]:
    role = Role.DELEGATION if delegation else Role.SECRETARIAT
    return {"Authorization": f"Bearer {token(role, delegation, subject=subject)}"}


async def _caller(
    http: httpx.AsyncClient, services: Services, creation: Creation, subject: str
) -> dict[str, str]:
    """A secretariat caller of its own; for subscriptions a delegation of its own."""
    if creation.service != "notifications":
        return _headers_of(subject)
    base = services.url("notifications")
    code = await new_delegation(http, base, _headers_of("test-idempotency-setup"))
    return _headers_of(subject, code)


@pytest.mark.parametrize("creation", CREATIONS, ids=lambda c: f"{c.service}{c.path}")
async def test_the_same_key_and_body_replays_the_first_answer_and_has_one_effect(
    services: Services, http: httpx.AsyncClient, creation: Creation
) -> None:
    base, tag, key = services.url(creation.service), uuid.uuid4().hex[:10], str(uuid.uuid4())
    headers = await _caller(http, services, creation, f"idem-{tag}")
    keyed = {**headers, "Idempotency-Key": key}

    first = await http.post(f"{base}{creation.path}", json=creation.body(tag), headers=keyed)
    assert first.status_code == 201, first.text
    assert "idempotency-replayed" not in first.headers
    again = await http.post(f"{base}{creation.path}", json=creation.body(tag), headers=keyed)

    assert again.status_code == first.status_code
    assert again.content == first.content
    for name in ANSWER_HEADERS:
        assert again.headers.get(name) == first.headers.get(name), name
    assert again.headers["idempotency-replayed"] == "true"
    assert await creation.effects(http, base, headers, tag) == 1

    other = await http.post(
        f"{base}{creation.path}", json=creation.body(tag, variant=1), headers=keyed
    )
    assert other.status_code == 422, other.text
    assert other.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in other.json()["errors"]] == [KEY_FIELD]
    assert await creation.effects(http, base, headers, tag) == 1


async def test_requests_racing_with_one_key_have_one_effect(
    services: Services, http: httpx.AsyncClient
) -> None:
    """Every answer is the first request's, or a 409 to send it again later: never a second
    meeting."""
    base, series, key = services.url("meetings"), f"RACE-{uuid.uuid4().hex[:8]}", "race-key"
    headers = {**_headers_of(f"racer-{series}"), "Idempotency-Key": key}
    body = meeting_body(series, "2020-09-15T09:00:00+07:00", participants=[], co_chairs=[])

    answers = await asyncio.gather(
        *(http.post(f"{base}/meetings", json=body, headers=headers) for _ in range(8))
    )

    created = [a for a in answers if a.status_code == 201]
    running = [a for a in answers if a.status_code == 409]
    assert len(created) + len(running) == len(answers), [a.text for a in answers]
    assert created and len({a.json()["id"] for a in created}) == 1
    for answer in running:
        assert answer.headers["retry-after"] == "1"
        assert [e["field"] for e in answer.json()["errors"]] == [KEY_FIELD]
    retried = await http.post(f"{base}/meetings", json=body, headers=headers)
    assert retried.status_code == 201 and retried.json()["id"] == created[0].json()["id"]
    meetings = await _items(http, f"{base}/meetings", headers, series=series)
    assert [m["id"] for m in meetings if m["series"] == series] == [created[0].json()["id"]]


async def test_keys_are_each_callers_own(services: Services, http: httpx.AsyncClient) -> None:
    base, series = services.url("meetings"), f"OWN-{uuid.uuid4().hex[:8]}"
    body = meeting_body(series, "2020-09-15T09:00:00+07:00", participants=[], co_chairs=[])
    ids = set()
    for subject in ("caller-a", "caller-b"):
        headers = {**_headers_of(f"{subject}-{series}"), "Idempotency-Key": "shared-key"}
        response = await http.post(f"{base}/meetings", json=body, headers=headers)
        assert response.status_code == 201, response.text
        assert "idempotency-replayed" not in response.headers
        ids.add(response.json()["id"])
    assert len(ids) == 2


@pytest.mark.parametrize("key", [b"", b"x" * 256, "caf\u00e9".encode(), b"two words"])
async def test_a_key_that_is_not_one_is_refused_naming_the_header(
    services: Services, http: httpx.AsyncClient, key: bytes
) -> None:
    base = services.url("meetings")
    body = meeting_body("BAD-KEY", "2020-09-15T09:00:00+07:00", participants=[], co_chairs=[])
    # As bytes: the key is sent exactly as given, whatever its encoding.
    headers = [(k.encode(), v.encode()) for k, v in _headers_of("bad-key").items()]
    headers.append((b"Idempotency-Key", key))
    response = await http.post(f"{base}/meetings", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [KEY_FIELD]


async def test_an_answer_holding_a_secret_is_not_kept_and_a_retry_is_told_to_look_it_up(
    services: Services, http: httpx.AsyncClient
) -> None:
    """Found in review: the first answer of POST /endpoints (its whsec_ signing secret) was
    stored in plain text in idempotency_keys for 24 h, past the encryption at rest, and a
    replay showed the secret a second time."""
    base = services.url("notifications")
    code = await new_delegation(http, base, _headers_of("test-idempotency-setup"))
    keyed = {**_headers_of(f"idem-secret-{code}", code), "Idempotency-Key": str(uuid.uuid4())}
    body = {"delegation": code, "url": "http://127.0.0.1:9/hooks", "description": "kept?"}
    first = await http.post(f"{base}/endpoints", json=body, headers=keyed)
    assert first.status_code == 201, first.text
    secret = first.json()["secret"]
    assert secret.startswith("whsec_")
    connection = await asyncpg.connect(asyncpg_dsn(services.infra.database_url("notifications")))
    try:
        stored = await connection.fetch("SELECT status_code, response_body FROM idempotency_keys")
    finally:
        await connection.close()
    assert all(secret.encode() not in (row["response_body"] or b"") for row in stored)

    again = await http.post(f"{base}/endpoints", json=body, headers=keyed)
    assert again.status_code == 409, again.text
    assert secret not in again.text
    assert [e["field"] for e in again.json()["errors"]] == [KEY_FIELD]


async def test_a_request_refused_without_effect_runs_again_when_retried_with_its_key(
    services: Services, http: httpx.AsyncClient
) -> None:
    """Found in review: a refusal that says to retry (a subscription to a plan notifications
    has not heard of yet, 422) was stored with the key and replayed for 24 h, so the retry the
    answer asked for could never succeed."""
    base = services.url("notifications")
    code = await new_delegation(http, base, _headers_of("test-idempotency-setup"))
    keyed = {**_headers_of(f"idem-retry-{code}", code), "Idempotency-Key": str(uuid.uuid4())}
    plan_id = uuid.uuid4()
    body = {"target_kind": "plan", "target_key": str(plan_id), "event_types": []}
    refused = await http.post(f"{base}/subscriptions", json=body, headers=keyed)
    assert refused.status_code == 422, refused.text

    await produce(
        services.infra.kafka_as("plans"),
        PLANS_EVENTS,
        [(str(plan_id).encode(), plan_created_event(plan_id).to_bytes())],
    )

    async def taken() -> bool:
        retried = await http.post(f"{base}/subscriptions", json=body, headers=keyed)
        assert retried.status_code in (201, 422), retried.text
        return retried.status_code == 201

    await eventually(taken, what="the retried subscription to be taken once the plan is known")

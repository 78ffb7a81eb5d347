"""A receiver written only from the documents the services serve: notifications' OpenAPI
`webhooks` describe every webhook a delegation can receive, and real deliveries of every type
this test makes the system send validate against them; the AsyncAPI catalogue is served too."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest

from shared.asyncapi import render as asyncapi_render
from tests.support.api import add_action_line, add_section, create_plan
from tests.support.meetings import act, decide, meeting_body, schedule
from tests.support.notifications import new_delegation, register_endpoint, subscribe
from tests.support.receiver import Received, Receiver
from tests.support.stack import SERVICE_NAMES, Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

# What a delegation following a plan and a meeting series is sent as the test below plays a
# plan's and two meetings' lives. A plan's creation is not among them: a plan can only be
# followed once it exists.
SENT = {
    "org.accord.plans.plan.submitted",
    "org.accord.plans.plan.approved",
    "org.accord.plans.plan.activated",
    "org.accord.plans.plan.completed",
    "org.accord.plans.plan.superseded",
    "org.accord.plans.section.created",
    "org.accord.plans.action_line.created",
    "org.accord.plans.action_line.updated",
    "org.accord.plans.action_line.status_changed",
    "org.accord.plans.rollup.changed",
    "org.accord.meetings.meeting.scheduled",
    "org.accord.meetings.meeting.postponed",
    "org.accord.meetings.meeting.started",
    "org.accord.meetings.meeting.concluded",
    "org.accord.meetings.meeting.cancelled",
    "org.accord.meetings.decision.adopted",
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


class GeneratedReceiver:
    """Validates a webhook as a receiver generated from the OpenAPI document would: the
    webhook named by the body's `type`, its required headers, its body's schema."""

    def __init__(self, openapi: dict[str, Any]) -> None:
        self.webhooks: dict[str, dict[str, Any]] = openapi["webhooks"]
        self.components = openapi["components"]

    def validate(self, received: Received) -> str:
        payload = _json(received.body)
        operation = self.webhooks[payload["type"]]["post"]
        for parameter in operation["parameters"]:
            assert parameter["in"] == "header"
            if parameter["required"]:
                assert parameter["name"] in received.headers, parameter["name"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        # The reference points into the document: validate against the document itself.
        validator = jsonschema_rs.Draft202012Validator(
            {"$ref": schema["$ref"], "components": self.components}
        )
        errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(payload)]
        assert not errors, (payload["type"], errors)
        return str(payload["type"])


def _json(body: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(body)
    return result


async def _served(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_every_webhook_sent_validates_against_the_served_openapi_document(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    plans, meetings, base = (services.url(n) for n in SERVICE_NAMES)
    headers = secretariat_headers
    generated = GeneratedReceiver(await _served(http, f"{base}/openapi.json"))
    assert set(generated.webhooks) > SENT

    code = await new_delegation(http, base, headers)
    endpoint = await register_endpoint(http, base, code, receiver.url(f"/contract/{code}"))
    receiver.route(f"/contract/{code}", endpoint["secret"])

    plan = await create_plan(http, plans, headers)
    await subscribe(http, base, code, "plan", plan["id"], channels=["webhook"])
    pillar = await add_section(http, plans, headers, plan["id"], code="1")
    line = await add_action_line(
        http, plans, headers, plan["id"], code="1.1", section_id=pillar["id"]
    )
    updated = await http.patch(
        f"{plans}/action-lines/{line['id']}",
        json={"text": "Hold two regional workshops", "expected_version": line["version"]},
        headers=headers,
    )
    assert updated.status_code == 200, updated.text
    for action in ("submit", "approve", "activate"):
        moved = await http.post(f"{plans}/plans/{plan['id']}/{action}", json={}, headers=headers)
        assert moved.status_code == 200, moved.text

    series = f"CPR-{uuid.uuid4().hex[:6]}"
    first = await schedule(
        http,
        meetings,
        headers,
        meeting_body(
            series,
            "2020-09-15T09:00:00+07:00",
            participants=[code],
            co_chairs=[],
            plans_under_review=[plan["id"]],
        ),
    )
    await subscribe(http, base, code, "meeting_series", series, channels=["webhook"])
    await act(
        http,
        meetings,
        headers,
        first["id"],
        "postpone",
        {"starts_at": "2020-09-16T09:00:00+07:00", "ends_at": "2020-09-16T12:00:00+07:00"},
    )
    await act(http, meetings, headers, first["id"], "start")
    review = {
        "kind": "status_review",
        "plan_id": plan["id"],
        "lines": [{"action_line_id": line["id"], "status": "completed"}],
    }
    await decide(http, meetings, headers, first["id"], "Review", review)

    async def reviewed() -> bool:
        read = await http.get(f"{plans}/action-lines/{line['id']}", headers=headers)
        return bool(read.json()["status"] == "completed")

    await eventually(reviewed, what="the review applied in plans")
    await act(http, meetings, headers, first["id"], "conclude", {})
    second = await schedule(
        http,
        meetings,
        headers,
        meeting_body(series, "2021-09-15T09:00:00+07:00", participants=[code], co_chairs=[]),
    )
    await act(http, meetings, headers, second["id"], "cancel", {})

    completed = await http.post(f"{plans}/plans/{plan['id']}/complete", json={}, headers=headers)
    assert completed.status_code == 200, completed.text
    successor = await create_plan(http, plans, headers, predecessor_id=plan["id"])
    for action in ("submit", "approve", "activate"):
        moved = await http.post(
            f"{plans}/plans/{successor['id']}/{action}", json={}, headers=headers
        )
        assert moved.status_code == 200, moved.text

    async def every_type_arrived() -> set[str] | None:
        types = {_json(r.body)["type"] for r in receiver.accepted(f"/contract/{code}")}
        return types if types >= SENT else None

    await eventually(every_type_arrived, timeout=60, what="a webhook of every type")
    validated = {generated.validate(r) for r in receiver.accepted(f"/contract/{code}")}
    assert validated >= SENT


async def test_every_service_serves_the_event_catalogue(
    services: Services, http: httpx.AsyncClient
) -> None:
    """No token needed, like the OpenAPI document; the same document everywhere."""
    for name in SERVICE_NAMES:
        served = await _served(http, f"{services.url(name)}/asyncapi.json")
        assert served == json.loads(asyncapi_render()), name
        assert served["asyncapi"].startswith("3.")

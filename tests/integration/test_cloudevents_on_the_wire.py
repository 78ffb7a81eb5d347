"""What a client reading the topics with the CloudEvents SDK sees: every event type the
system publishes, taken from the real broker, is read by the SDK's Kafka protocol binding
(mode detected from the headers, as the SDK does) as a structured-mode CloudEvent, not by
the project's own parser.

The story below makes the services publish one of each registered event type through their
public APIs; the only shortcut is dating an endpoint's failing streak six days back in the
notifications database, so that its next failures warn its delegation and disable it
instead of after five real days.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat

from shared.db import asyncpg_dsn
from shared.events import STRUCTURED_CONTENT_TYPE, registered_contracts
from shared.topics import MEETINGS_EVENTS, NOTIFICATIONS_EVENTS, PLANS_EVENTS
from tests.support.api import add_action_line, add_section, change_status, create_plan
from tests.support.kafka import read_all
from tests.support.meetings import act, decide, meeting_body, schedule
from tests.support.notifications import headers_of, new_delegation, register_endpoint, subscribe
from tests.support.receiver import Answer, Receiver
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

EVERY_TYPE = {c.event_type for c in registered_contracts()}


@pytest.fixture
def receiver() -> Any:
    with Receiver().running() as running:
        yield running


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _plans_story(
    http: httpx.AsyncClient, plans: str, headers: dict[str, str], keys: set[str]
) -> dict:
    """plan created, submitted, approved, activated, completed, superseded; section and
    line created, line updated, status changed (and so a rollup changed), its history
    corrected; a figure published."""
    plan = await create_plan(http, plans, headers, period_start="2020-01-01")
    keys.add(plan["id"])
    section = await add_section(http, plans, headers, plan["id"], code="1")
    line = await add_action_line(http, plans, headers, plan["id"], section_id=section["id"])
    line = await _ok(
        await http.patch(
            f"{plans}/action-lines/{line['id']}",
            json={"text": "Hold two regional workshops", "expected_version": 1},
            headers=headers,
        )
    )
    await _ok(
        await http.patch(
            f"{plans}/action-lines/{line['id']}/status",
            json={"status": "ongoing", "expected_version": line["version"]},
            headers=headers,
        )
    )
    history = await _ok(
        await http.get(f"{plans}/action-lines/{line['id']}/history", headers=headers)
    )
    await _ok(
        await http.post(
            f"{plans}/action-lines/{line['id']}/history/{history['items'][0]['id']}/corrections",
            json={"effective_date": "2020-01-02", "reason": "started in January"},
            headers={**headers, "If-Match": '"3"'},
        )
    )
    figure = {"plan_id": plan["id"], "as_of": "2020-06-30"}
    await _ok(await http.post(f"{plans}/figures", json=figure, headers=headers), 201)
    for action in ("submit", "approve", "activate", "complete"):
        await _ok(await http.post(f"{plans}/plans/{plan['id']}/{action}", json={}, headers=headers))
    successor = await create_plan(http, plans, headers, predecessor_id=plan["id"])
    keys.add(successor["id"])
    for action in ("submit", "approve", "activate"):
        url = f"{plans}/plans/{successor['id']}/{action}"
        await _ok(await http.post(url, json={}, headers=headers))
    return successor


async def _meetings_story(
    http: httpx.AsyncClient,
    meetings: str,
    headers: dict[str, str],
    plan: dict,
    draft: dict,
    keys: set[str],
) -> None:
    """meeting scheduled, postponed, started, concluded, cancelled; decisions adopted (a
    status review, which plans answers with status_review.processed, and the approval of a
    draft, which plans refuses with plan_decision.rejected); a commitment fulfilled."""
    series = f"CPR-{uuid.uuid4().hex[:6]}"
    body = meeting_body(series, "2020-09-15T09:00:00+07:00", plans_under_review=[plan["id"]])
    meeting = await schedule(http, meetings, headers, body)
    keys.add(meeting["id"])
    await act(
        http,
        meetings,
        headers,
        meeting["id"],
        "postpone",
        {"starts_at": "2020-09-16T09:00:00+07:00", "ends_at": "2020-09-16T12:00:00+07:00"},
    )
    await act(http, meetings, headers, meeting["id"], "start")
    await decide(
        http,
        meetings,
        headers,
        meeting["id"],
        "Review",
        {
            "kind": "status_review",
            "plan_id": plan["id"],
            "lines": [{"code": "9.9", "status": "completed"}],
        },
    )
    await decide(
        http,
        meetings,
        headers,
        meeting["id"],
        "Approval of a draft",
        {"kind": "plan_approval", "plan_id": draft["id"]},
    )
    commitment = await decide(
        http,
        meetings,
        headers,
        meeting["id"],
        "Experts",
        {"kind": "commitment", "party": "UN", "text": "Provide experts"},
    )
    await act(http, meetings, headers, meeting["id"], "conclude", {})
    await _ok(
        await http.post(
            f"{meetings}/commitments/{commitment['id']}/fulfil",
            json={"fulfilled_on": "2020-10-01"},
            headers=headers,
        )
    )
    other = await schedule(
        http, meetings, headers, meeting_body(series, "2021-09-15T09:00:00+07:00")
    )
    keys.add(other["id"])
    await act(http, meetings, headers, other["id"], "cancel", {})


async def _failing_endpoint_story(
    http: httpx.AsyncClient,
    services: Services,
    plans: str,
    secretariat: dict[str, str],
    receiver: Receiver,
    keys: set[str],
) -> None:
    """An endpoint failing for six days: its next failure warns its delegation
    (endpoint.disabling_soon), the one after disables it (endpoint.disabled)."""
    base = services.url("notifications")
    code = await new_delegation(http, base, secretariat)
    keys.add(code)
    endpoint = await register_endpoint(http, base, code, receiver.url(f"/hooks/{code}"))
    receiver.route(f"/hooks/{code}", endpoint["secret"])
    receiver.answer_from_now(f"/hooks/{code}", Answer(500))
    connection = await asyncpg.connect(asyncpg_dsn(services.infra.database_url("notifications")))
    try:
        await connection.execute(
            "UPDATE endpoints SET failing_since = $1 WHERE id = $2",
            datetime.now(UTC) - timedelta(days=6),
            uuid.UUID(endpoint["id"]),
        )
    finally:
        await connection.close()
    plan = await create_plan(http, plans, secretariat)
    keys.add(plan["id"])
    await subscribe(http, base, code, "plan", plan["id"])
    line = await add_action_line(http, plans, secretariat, plan["id"])
    await _ok(
        await http.patch(
            f"{plans}/action-lines/{line['id']}/status",
            json={"status": "ongoing", "expected_version": 1},
            headers=secretariat,
        )
    )


async def _digest_story(
    http: httpx.AsyncClient, services: Services, secretariat: dict[str, str], keys: set[str]
) -> None:
    """A delegation with a daily digest due at once (hour 0 of its day): a status change it
    follows is held, and the digest job publishes digest.ready."""
    plans, base = services.url("plans"), services.url("notifications")
    code = await new_delegation(http, base, secretariat)
    keys.add(code)
    await _ok(
        await http.patch(
            f"{base}/delegations/{code}",
            json={"timezone": "Pacific/Auckland", "digest_hour": 0},
            headers=headers_of(code),
        )
    )
    plan = await create_plan(http, plans, secretariat)
    keys.add(plan["id"])
    line = await add_action_line(http, plans, secretariat, plan["id"])
    await subscribe(
        http, base, code, "plan", plan["id"], channels=["inbox"], cadence="daily_digest"
    )
    await change_status(http, plans, secretariat, line, "ongoing")


async def test_every_event_type_on_the_broker_is_a_structured_cloudevent_for_the_sdk(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    plans, meetings = services.url("plans"), services.url("meetings")
    # The keys of this test's plans, meetings and delegation: the topics also hold other
    # tests' messages, some of them deliberately malformed.
    keys: set[str] = set()
    reviewed = await _plans_story(http, plans, secretariat_headers, keys)
    draft = await create_plan(http, plans, secretariat_headers)
    keys.add(draft["id"])
    await _meetings_story(http, meetings, secretariat_headers, reviewed, draft, keys)
    await _failing_endpoint_story(http, services, plans, secretariat_headers, receiver, keys)
    await _digest_story(http, services, secretariat_headers, keys)

    bootstrap = services.infra.kafka_admin
    records: list[Any] = []
    missing: set[str] = set()

    async def every_type_published() -> bool:
        records.clear()
        for topic in (PLANS_EVENTS, MEETINGS_EVENTS, NOTIFICATIONS_EVENTS):
            every = await read_all(bootstrap, topic, settle=0.5)
            records.extend(r for r in every if r.key is not None and r.key.decode() in keys)
        missing.clear()
        missing.update(EVERY_TYPE - {_type_of(r) for r in records})
        return not missing

    try:
        await eventually(every_type_published, timeout=60, what="one message of every type")
    except AssertionError as failure:
        raise AssertionError(f"{failure}; none yet of {sorted(missing)}") from None

    seen: set[str] = set()
    for record in records:
        headers = {name: value for name, value in record.headers}
        assert headers.get("content-type") == STRUCTURED_CONTENT_TYPE.encode(), record
        assert not [name for name in headers if name.lower().startswith("ce_")], record
        message = ce_kafka.KafkaMessage(headers=headers, key=record.key, value=record.value)
        # The SDK decides the mode from the headers, as any client does.
        event = ce_kafka.from_kafka(message, JSONFormat())
        attributes = event.get_attributes()
        assert attributes["specversion"] == "1.0"
        assert attributes["datacontenttype"] == "application/json"
        assert attributes["source"].startswith("/accord/")
        assert attributes["partitionkey"] == record.key.decode()
        assert isinstance(event.get_data(), dict)
        seen.add(attributes["type"])
    assert seen >= EVERY_TYPE


def _type_of(record: Any) -> str:
    try:
        event = ce_kafka.from_structured(
            ce_kafka.KafkaMessage(headers={}, key=record.key, value=record.value), JSONFormat()
        )
    except Exception:
        return ""  # judged below
    return str(event.get_attributes()["type"])

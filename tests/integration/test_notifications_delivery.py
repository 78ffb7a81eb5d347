"""Notifications end to end: plans' events reach exactly the delegations that follow them,
through signed webhooks, the inbox and the live stream, through failures of the receiver."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from shared.topics import PLANS_EVENTS
from tests.support.api import add_action_line, add_section, change_status, create_plan
from tests.support.kafka import announced_plan, produce, status_changed_event
from tests.support.notifications import (
    STATUS_CHANGED,
    headers_of,
    listed,
    live_stream,
    new_delegation,
    register_endpoint,
    subscribe,
)
from tests.support.receiver import Answer, Receiver, verifies
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ONLY_STATUS_CHANGES = {"event_types": ["action_line.status_changed"]}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


async def _delegation_with_endpoint(
    http: httpx.AsyncClient,
    services: Services,
    secretariat: dict[str, str],
    receiver: Receiver,
    *script: Answer,
) -> tuple[str, dict, str]:
    base = services.url("notifications")
    code = await new_delegation(http, base, secretariat)
    path = f"/hooks/{code}"
    endpoint = await register_endpoint(http, base, code, receiver.url(path))
    assert endpoint["secret"].startswith("whsec_")
    receiver.route(path, endpoint["secret"], *script)
    return code, endpoint, path


async def test_a_status_change_reaches_exactly_the_matching_delegations_once_each(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    plans, base = services.url("plans"), services.url("notifications")
    tag = f"tag-{uuid.uuid4().hex[:6]}"
    plan = await create_plan(http, plans, secretariat_headers)
    pillar = await add_section(http, plans, secretariat_headers, plan["id"], code="1")
    area = await add_section(
        http, plans, secretariat_headers, plan["id"], code="1.2", parent_id=pillar["id"]
    )
    line = await add_action_line(
        http, plans, secretariat_headers, plan["id"], section_id=area["id"], tags=[tag]
    )
    who: dict[str, tuple[str, dict, str]] = {}
    for name in ("plan", "pillar", "tag", "twice", "other_tag", "completions_only"):
        who[name] = await _delegation_with_endpoint(http, services, secretariat_headers, receiver)
    follow = [
        ("plan", "plan", plan["id"], {}),
        ("pillar", "section", pillar["id"], {}),
        ("tag", "tag", tag, {}),
        ("twice", "action_line", line["id"], {}),
        ("twice", "section", area["id"], {}),
        ("other_tag", "tag", f"{tag}-not", {}),
        ("completions_only", "action_line", line["id"], {"statuses": ["completed"]}),
    ]
    for name, kind, key, extra in follow:
        await subscribe(http, base, who[name][0], kind, key, **ONLY_STATUS_CHANGES, **extra)
    plan_delegation = who["plan"][0]

    async with live_stream(base, headers_of(plan_delegation)) as streamed:
        await change_status(http, plans, secretariat_headers, line, "ongoing")
        expected = ("plan", "pillar", "tag", "twice")

        async def all_received() -> bool:
            return all(receiver.accepted(who[n][2]) for n in expected) and bool(streamed)

        await eventually(all_received, what="webhooks to the four matching delegations")
        await asyncio.sleep(1.0)  # time for a duplicate or a stray delivery to show

    for name in expected:
        [webhook] = receiver.at(who[name][2])
        assert webhook.verified
        assert f'"action_line_id":"{line["id"]}"' in webhook.body.decode()
    for name in ("other_tag", "completions_only"):
        assert receiver.at(who[name][2]) == []
    ids = {receiver.at(who[n][2])[0].webhook_id for n in expected}
    assert len(ids) == 4

    entries = await listed(http, f"{base}/inbox", headers_of(plan_delegation))
    [entry] = entries
    assert entry["event_type"] == STATUS_CHANGED
    assert entry["title"].endswith("not started -> ongoing")
    [event] = streamed
    assert event["id"] == entry["seq"] and event["data"]["title"] == entry["title"]
    for name in ("other_tag", "completions_only"):
        assert await listed(http, f"{base}/inbox", headers_of(who[name][0])) == []

    unread = await http.get(f"{base}/inbox/unread-count", headers=headers_of(plan_delegation))
    assert unread.json()["unread"] == 1
    read = await http.post(f"{base}/inbox/read-all", headers=headers_of(plan_delegation))
    assert read.json() == {"marked": 1}

    # Resuming the stream after nothing replays the entry; after it, nothing.
    async with live_stream(base, headers_of(plan_delegation), last_event_id=0) as replay:
        await eventually(lambda: asyncio.sleep(0, replay), what="the replayed entry")
    assert [e["id"] for e in replay] == [entry["seq"]]


async def test_a_receiver_that_fails_then_recovers_gets_everything_with_the_same_webhook_ids(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    plans, base = services.url("plans"), services.url("notifications")
    failures = (Answer(503, {"Retry-After": "1"}), Answer(500), Answer(503), Answer(502))
    code, endpoint, path = await _delegation_with_endpoint(
        http, services, secretariat_headers, receiver, *failures
    )
    plan = await create_plan(http, plans, secretariat_headers)
    await subscribe(http, base, code, "plan", plan["id"], **ONLY_STATUS_CHANGES)
    lines = [await add_action_line(http, plans, secretariat_headers, plan["id"]) for _ in range(3)]
    for line in lines:
        await change_status(http, plans, secretariat_headers, line, "completed")

    await eventually(
        lambda: asyncio.sleep(0, len({r.webhook_id for r in receiver.accepted(path)}) == 3),
        what="all three changes accepted after the failures",
    )
    received = receiver.at(path)
    assert all(r.verified for r in received)
    assert [r.answered for r in received[:4]] == [503, 500, 503, 502]
    accepted = [r.webhook_id for r in receiver.accepted(path)]
    assert len(accepted) == len(set(accepted)) == 3
    assert {r.webhook_id for r in received} == set(accepted)

    # The receiver sees the last 200 before the dispatcher has recorded it: wait for the record.
    async def all_recorded() -> list[dict] | None:
        items = await listed(http, f"{base}/deliveries", headers_of(code))
        return items if {d["status"] for d in items} == {"succeeded"} else None

    deliveries = await eventually(all_recorded, what="the three deliveries recorded succeeded")
    assert sorted(d["webhook_id"] for d in deliveries) == sorted(accepted)
    assert sum(d["attempts_total"] for d in deliveries) == len(received) == 7

    # The Retry-After of the first answer was honoured: its next attempt came a second later.
    first = received[0].webhook_id
    attempts = [r for r in received if r.webhook_id == first]
    gap = int(attempts[1].headers["webhook-timestamp"]) - int(
        attempts[0].headers["webhook-timestamp"]
    )
    assert gap >= 1

    # A redelivery, after a secret rotation, carries the same id and both signatures.
    rotated = await http.post(
        f"{base}/endpoints/{endpoint['id']}/rotate-secret", headers=headers_of(code)
    )
    assert rotated.status_code == 200, rotated.text
    delivery = next(d for d in deliveries if d["webhook_id"] == first)
    again = await http.post(
        f"{base}/deliveries/{delivery['id']}/redeliver", headers=headers_of(code)
    )
    assert again.status_code == 202, again.text
    await eventually(
        lambda: asyncio.sleep(0, len(receiver.accepted(path)) == 4), what="the redelivery"
    )
    last = receiver.at(path)[-1]
    assert last.webhook_id == first
    assert len(last.headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint["secret"], rotated.json()["secret"]):
        assert verifies(secret, last.body, last.headers)


async def test_a_410_disables_the_endpoint_and_stops_deliveries(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    plans, base = services.url("plans"), services.url("notifications")
    code, endpoint, path = await _delegation_with_endpoint(
        http, services, secretariat_headers, receiver, Answer(410)
    )
    plan = await create_plan(http, plans, secretariat_headers)
    await subscribe(http, base, code, "plan", plan["id"], **ONLY_STATUS_CHANGES)
    line = await add_action_line(http, plans, secretariat_headers, plan["id"])
    await change_status(http, plans, secretariat_headers, line, "ongoing")

    async def disabled() -> dict | None:
        response = await http.get(f"{base}/endpoints/{endpoint['id']}", headers=headers_of(code))
        body: dict = response.json()
        return body if not body["enabled"] else None

    state = await eventually(disabled, what="the endpoint disabled by its 410")
    assert state["disabled_reason"] == "gone"
    await change_status(http, plans, secretariat_headers, line, "completed")
    inbox = await eventually(
        lambda: listed_when(http, f"{base}/inbox", headers_of(code), 3), what="three entries"
    )
    assert inbox[1]["event_type"] == "org.accord.notifications.endpoint.disabled"
    assert inbox[1]["critical"]
    await asyncio.sleep(1.0)
    assert len(receiver.at(path)) == 1
    # Both wait for the endpoint: the one answered 410 and the one made since.
    waiting = await listed(http, f"{base}/deliveries", headers_of(code), status="pending")
    assert len(waiting) == 2


async def test_a_webhook_url_stays_out_of_the_service_log(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    """A webhook URL may carry the receiver's credential (a token in its query, as many
    receivers ask): the delegation reads its own URL back, but the operator's log must not
    hold it. httpx logged every request's full URL at INFO, once per attempt."""
    plans, base = services.url("plans"), services.url("notifications")
    code = await new_delegation(http, base, secretariat_headers)
    token = f"receiver-token-{uuid.uuid4().hex}"
    path = f"/hooks/{code}?token={token}"
    endpoint = await register_endpoint(http, base, code, receiver.url(path))
    receiver.route(path, endpoint["secret"])
    plan = await create_plan(http, plans, secretariat_headers)
    await subscribe(http, base, code, "plan", plan["id"], **ONLY_STATUS_CHANGES)
    line = await add_action_line(http, plans, secretariat_headers, plan["id"])
    await change_status(http, plans, secretariat_headers, line, "ongoing")

    async def delivered() -> list[dict] | None:
        return await listed(http, f"{base}/deliveries", headers_of(code), status="succeeded")

    await eventually(delivered, what="the webhook delivered and recorded")
    assert len(receiver.accepted(path)) == 1
    log = services.processes["notifications"].log_path.read_text(errors="replace")
    assert token not in log


async def listed_when(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], count: int
) -> list[dict] | None:
    items = await listed(http, url, headers)
    return items if len(items) >= count else None


async def test_a_redelivered_kafka_event_creates_no_second_delivery(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    base = services.url("notifications")
    code, _, path = await _delegation_with_endpoint(http, services, secretariat_headers, receiver)
    plan_id = await announced_plan(services.infra.kafka_as("plans"))
    await subscribe(http, base, code, "plan", str(plan_id))
    duplicate = status_changed_event(plan_id)
    marker = status_changed_event(plan_id, version=3)
    key = str(plan_id).encode()
    await produce(
        services.infra.kafka_admin,
        PLANS_EVENTS,
        [(key, duplicate.to_bytes()), (key, duplicate.to_bytes()), (key, marker.to_bytes())],
    )

    await eventually(lambda: asyncio.sleep(0, len(receiver.accepted(path)) >= 2), what="2 hooks")
    await asyncio.sleep(0.5)
    deliveries = await listed(http, f"{base}/deliveries", headers_of(code))
    assert sorted(d["event_id"] for d in deliveries) == sorted([duplicate.id, marker.id])
    assert len(receiver.at(path)) == 2


async def test_another_delegations_ids_give_404_and_the_secretariat_sees_all(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    base = services.url("notifications")
    owner, endpoint, _ = await _delegation_with_endpoint(
        http, services, secretariat_headers, receiver
    )
    other = await new_delegation(http, base, secretariat_headers)
    plan_id = await announced_plan(services.infra.kafka_as("plans"))
    subscription = await subscribe(http, base, owner, "plan", str(plan_id))
    await produce(
        services.infra.kafka_admin,
        PLANS_EVENTS,
        [(str(plan_id).encode(), status_changed_event(plan_id).to_bytes())],
    )
    [delivery] = await eventually(
        lambda: listed_when(http, f"{base}/deliveries", headers_of(owner), 1), what="a delivery"
    )
    [entry] = await listed(http, f"{base}/inbox", headers_of(owner))
    since = {"since": datetime(2020, 1, 1).isoformat() + "Z"}

    calls = [
        ("GET", f"/subscriptions/{subscription['id']}", None),
        ("DELETE", f"/subscriptions/{subscription['id']}", None),
        ("GET", f"/endpoints/{endpoint['id']}", None),
        ("PATCH", f"/endpoints/{endpoint['id']}", {"enabled": False}),
        ("POST", f"/endpoints/{endpoint['id']}/rotate-secret", None),
        ("POST", f"/endpoints/{endpoint['id']}/recover", since),
        ("DELETE", f"/endpoints/{endpoint['id']}", None),
        ("GET", f"/deliveries/{delivery['id']}", None),
        ("POST", f"/deliveries/{delivery['id']}/redeliver", None),
        ("POST", f"/inbox/{entry['id']}/read", None),
    ]
    for method, url, body in calls:
        response = await http.request(method, base + url, json=body, headers=headers_of(other))
        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    for listing in ("/subscriptions", "/endpoints", "/deliveries", "/inbox"):
        assert await listed(http, base + listing, headers_of(other)) == []

    for method, url, _ in calls[:1] + calls[2:3] + calls[7:8]:
        response = await http.request(method, base + url, headers=secretariat_headers)
        assert response.status_code == 200, (method, url, response.text)
    everyone = await listed(http, f"{base}/deliveries", secretariat_headers, delegation=owner)
    assert [d["id"] for d in everyone] == [delivery["id"]]


async def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    plans, base = services.url("plans"), services.url("notifications")
    elsewhere = f"/elsewhere/{uuid.uuid4().hex[:6]}"
    receiver.route(elsewhere, "whsec_unused")
    code, _, path = await _delegation_with_endpoint(
        http,
        services,
        secretariat_headers,
        receiver,
        Answer(302, {"location": receiver.url(elsewhere)}),
    )
    plan = await create_plan(http, plans, secretariat_headers)
    await subscribe(http, base, code, "plan", plan["id"], **ONLY_STATUS_CHANGES)
    line = await add_action_line(http, plans, secretariat_headers, plan["id"])
    await change_status(http, plans, secretariat_headers, line, "ongoing")

    async def redirected() -> dict | None:
        [delivery] = await listed(http, f"{base}/deliveries", headers_of(code)) or [None]
        return delivery if delivery and delivery["last_status_code"] == 302 else None

    delivery = await eventually(redirected, what="the 302 recorded as the delivery's attempt")
    assert delivery["succeeded_at"] is None
    assert len(receiver.at(path)) == 1
    assert receiver.at(elsewhere) == []

"""The idempotent consumer against the real broker: duplicates and poison messages."""

import json
import uuid

import httpx
import pytest

from shared.topics import PLANS_EVENTS, dead_letter_topic
from tests.support.api import activity
from tests.support.kafka import produce, read_all, status_changed_event
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _activity_until(http, services, headers, plan_id: uuid.UUID, count: int) -> list[dict]:
    async def enough() -> list[dict] | None:
        items = await activity(http, services.url("notifications"), headers, str(plan_id))
        return items if len(items) >= count else None

    return await eventually(enough, what=f"{count} activity entries for plan {plan_id}")


async def test_the_same_event_delivered_twice_has_one_effect(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plan_id = uuid.uuid4()
    duplicate = status_changed_event(plan_id)
    marker = status_changed_event(plan_id, version=3)
    key = str(plan_id).encode()
    # Same key, same partition: by the time the marker is processed, both copies have been.
    await produce(
        services.infra.bootstrap_servers,
        PLANS_EVENTS,
        [(key, duplicate.to_bytes()), (key, duplicate.to_bytes()), (key, marker.to_bytes())],
    )

    items = await _activity_until(http, services, secretariat_headers, plan_id, 2)

    assert sorted(i["event_id"] for i in items) == sorted([duplicate.id, marker.id])


@pytest.mark.parametrize(
    ("poison", "reason"),
    [
        (b"this is not json", "malformed envelope"),
        (json.dumps({"specversion": "1.0", "id": "x"}).encode(), "malformed envelope"),
        ("unknown-type", "unknown event type org.accord.plans.nothing"),
        ("unknown-version", "unknown version 99"),
        ("invalid-data", "invalid org.accord.plans.action_line.status_changed v1"),
    ],
)
async def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_consumer_goes_on(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    poison: bytes | str,
    reason: str,
) -> None:
    plan_id = uuid.uuid4()
    key = str(plan_id).encode()
    good = status_changed_event(plan_id)
    bad = _poison(poison, plan_id)

    await produce(
        services.infra.bootstrap_servers, PLANS_EVENTS, [(key, bad), (key, good.to_bytes())]
    )

    items = await _activity_until(http, services, secretariat_headers, plan_id, 1)
    assert [i["event_id"] for i in items] == [good.id]

    async def parked() -> list | None:
        records = await read_all(
            services.infra.bootstrap_servers, dead_letter_topic(PLANS_EVENTS), settle=1
        )
        # Every consumer group of the topic parks its own copy; this test follows one.
        mine = [
            r
            for r in records
            if r.value == bad and ("dlt.group", b"accord-notifications") in (r.headers or ())
        ]
        return mine or None

    [record] = await eventually(parked, what="the poison message on the dead-letter topic")
    headers = {k: v.decode() for k, v in record.headers}
    assert reason in headers["dlt.reason"]
    assert headers["dlt.group"] == "accord-notifications"
    assert headers["dlt.topic"] == PLANS_EVENTS
    assert record.key == key


def _poison(kind: bytes | str, plan_id: uuid.UUID) -> bytes:
    if isinstance(kind, bytes):
        return kind
    event = json.loads(status_changed_event(plan_id).to_bytes())
    event["id"] = str(uuid.uuid4())
    if kind == "unknown-type":
        event["type"] = "org.accord.plans.nothing"
    elif kind == "unknown-version":
        event["dataschemaversion"] = 99
    else:
        event["data"]["new_status"] = "finished-ish"
    return json.dumps(event).encode()

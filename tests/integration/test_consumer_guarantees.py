"""The idempotent consumer against the real broker: duplicates and poison messages."""

import json
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from shared.topics import MEETINGS_EVENTS, PLANS_EVENTS, dead_letter_topic
from tests.support.api import activity, add_action_line, create_plan
from tests.support.kafka import produce, read_all, status_changed_event
from tests.support.meetings import act, decide, meeting_body, schedule
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

FOREIGN_SOURCE_REASON = "source '/accord/meetings' is not the owner of accord.plans.events"
FOREIGN_TYPE_REASON = "org.accord.meetings.meeting.scheduled is not an event of '/accord/plans'"


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
        services.infra.kafka_admin,
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
        # Written by a principal allowed on the topic (here the admin), but not plans' event.
        ("foreign-source", FOREIGN_SOURCE_REASON),
        ("foreign-type", FOREIGN_TYPE_REASON),
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

    await produce(services.infra.kafka_admin, PLANS_EVENTS, [(key, bad), (key, good.to_bytes())])

    items = await _activity_until(http, services, secretariat_headers, plan_id, 1)
    assert [i["event_id"] for i in items] == [good.id]

    async def parked() -> list | None:
        records = await read_all(
            services.infra.kafka_admin, dead_letter_topic(PLANS_EVENTS), settle=1
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
    elif kind == "foreign-source":
        event["source"] = "/accord/meetings"
    elif kind == "foreign-type":
        event["type"] = "org.accord.meetings.meeting.scheduled"
    else:
        event["data"]["new_status"] = "finished-ish"
    return json.dumps(event).encode()


POISON_KINDS = {
    b"this is not json": "malformed envelope",
    json.dumps({"specversion": "1.0", "id": "x"}).encode(): "malformed envelope",
    "unknown-type": "unknown event type org.accord.plans.nothing",
    "unknown-version": "unknown version 99",
    "invalid-data": "invalid org.accord.plans.action_line.status_changed v1",
    "foreign-source": FOREIGN_SOURCE_REASON,
    "foreign-type": FOREIGN_TYPE_REASON,
}


async def _plan_in_rollups(http, services, headers, plan_id: str) -> bool:
    response = await http.get(f"{services.url('plans')}/plans/{plan_id}/rollups", headers=headers)
    assert response.status_code == 200, response.text
    figures = response.json()["plan"]["figures"]
    return figures["total"] == 1 and figures["by_status"].get("ongoing") == 1


async def _plan_in_briefing(http, services, headers, meeting_id: str) -> bool:
    briefing = await http.get(
        f"{services.url('meetings')}/meetings/{meeting_id}/briefing", headers=headers
    )
    assert briefing.status_code == 200, briefing.text
    overall = briefing.json()["plans"][0]["overall"]
    return overall["total"] == 1 and overall["by_status"].get("ongoing") == 1


async def _plan_in_activity(http, services, headers, plan_id: str) -> bool:
    items = await activity(http, services.url("notifications"), headers, plan_id)
    return any(i["event_type"] == "org.accord.plans.action_line.status_changed" for i in items)


@pytest.mark.parametrize("group", ["accord-plans", "accord-meetings", "accord-notifications"])
async def test_every_consumer_group_parks_each_kind_of_poison_and_goes_on(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str], group: str
) -> None:
    """All three groups read the plans topic. Poison of every kind is put on a plan's
    partition; then the plan gets a line whose status changes, through the plans API, so the
    good events come after the poison on the same partition. Each group must park every poison
    on the dead-letter topic under its own name, and the effect of the good events must show
    in that group's service: the plan's rollups (plans), a briefing on the plan (meetings),
    the activity feed (notifications)."""
    plans, meetings = services.url("plans"), services.url("meetings")
    plan = await create_plan(http, plans, secretariat_headers)
    plan_id = plan["id"]
    meeting = await schedule(
        http,
        meetings,
        secretariat_headers,
        meeting_body(
            f"DLT {uuid.uuid4().hex[:6]}",
            "2030-09-15T09:00:00+07:00",
            plans_under_review=[plan_id],
        ),
    )
    key = plan_id.encode()
    poisons = {_poison(kind, uuid.UUID(plan_id)): reason for kind, reason in POISON_KINDS.items()}
    await produce(services.infra.kafka_admin, PLANS_EVENTS, [(key, p) for p in poisons])

    line = await add_action_line(http, plans, secretariat_headers, plan_id)
    changed = await http.patch(
        f"{plans}/action-lines/{line['id']}/status",
        json={"status": "ongoing", "expected_version": line["version"]},
        headers=secretariat_headers,
    )
    assert changed.status_code == 200, changed.text

    effect_shows: dict[str, Callable[[], Awaitable[bool]]] = {
        "accord-plans": lambda: _plan_in_rollups(http, services, secretariat_headers, plan_id),
        "accord-meetings": lambda: _plan_in_briefing(
            http, services, secretariat_headers, meeting["id"]
        ),
        "accord-notifications": lambda: _plan_in_activity(
            http, services, secretariat_headers, plan_id
        ),
    }
    await eventually(effect_shows[group], what=f"the good events applied by {group}")

    await _assert_parked_on_one_partition(services, PLANS_EVENTS, group, key, poisons)


async def _assert_parked_on_one_partition(
    services: Services, topic: str, group: str, key: bytes, poisons: dict[bytes, str]
) -> None:
    """Each poison (value -> reason) is on ``<topic>.dlt`` as parked by ``group``, with its
    reason, and every record of ``key`` on ``topic`` (the good events included) sits in the
    partition the poison came from."""

    async def all_parked() -> list | None:
        records = await read_all(services.infra.kafka_admin, dead_letter_topic(topic), settle=1)
        mine = [
            r
            for r in records
            if r.key == key
            and r.value in poisons
            and ("dlt.group", group.encode()) in (r.headers or ())
        ]
        return mine if len(mine) >= len(poisons) else None

    parked = await eventually(all_parked, what=f"{len(poisons)} poison messages parked by {group}")
    assert sorted(r.value for r in parked) == sorted(poisons)
    for record in parked:
        headers = {k: v.decode() for k, v in record.headers}
        assert poisons[record.value] in headers["dlt.reason"]
        assert headers["dlt.group"] == group
        assert headers["dlt.topic"] == topic
        assert record.key == key

    # The good events went the same way as the poison: one partition.
    partitions = {int(dict(r.headers)["dlt.partition"].decode()) for r in parked}
    on_topic = await read_all(services.infra.kafka_admin, topic, settle=1)
    assert {r.partition for r in on_topic if r.key == key} == partitions
    assert len(partitions) == 1


DECISION_ADOPTED = "org.accord.meetings.decision.adopted"
MEETINGS_POISON_KINDS = {
    b"this is not json": "malformed envelope",
    json.dumps({"specversion": "1.0", "id": "x"}).encode(): "malformed envelope",
    "unknown-type": "unknown event type org.accord.meetings.nothing",
    "unknown-version": "unknown version 99",
    "invalid-data": f"invalid {DECISION_ADOPTED} v1",
}


def _meetings_poison(kind: bytes | str) -> bytes:
    """A meetings event gone wrong: a well-formed envelope from meetings whose type is unknown,
    whose version is unknown, or whose data is not a decision."""
    if isinstance(kind, bytes):
        return kind
    event = json.loads(status_changed_event(uuid.uuid4()).to_bytes())
    event |= {"id": str(uuid.uuid4()), "source": "/accord/meetings", "type": DECISION_ADOPTED}
    if kind == "unknown-type":
        event["type"] = "org.accord.meetings.nothing"
    elif kind == "unknown-version":
        event["dataschemaversion"] = 99
    elif kind == "foreign-source":
        event["source"] = "/accord/meetings"
    elif kind == "foreign-type":
        event["type"] = "org.accord.meetings.meeting.scheduled"
    return json.dumps(event).encode()


@pytest.mark.parametrize("group", ["accord-plans", "accord-notifications"])
async def test_the_groups_reading_the_meetings_topic_park_each_kind_of_poison_and_go_on(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str], group: str
) -> None:
    """plans and notifications also read the meetings topic. Poison of every kind is put on a
    meeting's partition; then the meeting adopts a status review through the meetings API, so
    the DecisionAdopted comes after the poison on the same partition. Its effect must show:
    the line is completed (plans), the decision is in the plan's activity (notifications)."""
    plans, meetings = services.url("plans"), services.url("meetings")
    plan = await create_plan(http, plans, secretariat_headers)
    line = await add_action_line(http, plans, secretariat_headers, plan["id"])
    meeting = await schedule(
        http,
        meetings,
        secretariat_headers,
        meeting_body(
            f"DLT {uuid.uuid4().hex[:6]}",
            "2020-09-15T09:00:00+07:00",
            plans_under_review=[plan["id"]],
        ),
    )
    await act(http, meetings, secretariat_headers, meeting["id"], "start")
    key = meeting["id"].encode()
    poisons = {_meetings_poison(kind): reason for kind, reason in MEETINGS_POISON_KINDS.items()}
    await produce(services.infra.kafka_admin, MEETINGS_EVENTS, [(key, p) for p in poisons])

    review = {
        "kind": "status_review",
        "plan_id": plan["id"],
        "lines": [{"code": line["code"], "status": "completed"}],
    }
    await decide(http, meetings, secretariat_headers, meeting["id"], "Review", review)

    async def line_completed() -> bool:
        response = await http.get(f"{plans}/action-lines/{line['id']}", headers=secretariat_headers)
        assert response.status_code == 200, response.text
        return bool(response.json()["status"] == "completed")

    async def decision_in_activity() -> bool:
        items = await activity(http, services.url("notifications"), secretariat_headers, plan["id"])
        return any(i["event_type"] == DECISION_ADOPTED for i in items)

    effect_shows = {"accord-plans": line_completed, "accord-notifications": decision_in_activity}
    await eventually(effect_shows[group], what=f"the decision applied by {group}")

    await _assert_parked_on_one_partition(services, MEETINGS_EVENTS, group, key, poisons)

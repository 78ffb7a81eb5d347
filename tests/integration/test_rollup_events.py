"""``rollup.changed``, version 2: a status change moves its plan's rollups in several scopes (the
plan, each section on the line's path, each tag, each lead) and publishes one event that lists
every scope it moved, not one event per scope; a webhook of it says its version. Version 1
events, published before, are still taken in and delivered as they were written."""

import json
import uuid
from typing import Any

import httpx
import pytest

from shared.contracts import plans as plan_events
from shared.events import envelope
from shared.topics import PLANS_EVENTS
from tests.support.api import add_action_line, add_section, change_status, create_plan
from tests.support.kafka import produce, read_all
from tests.support.notifications import (
    headers_of,
    listed,
    new_delegation,
    register_endpoint,
    subscribe,
)
from tests.support.receiver import Receiver
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ROLLUP = "org.accord.plans.rollup.changed"


@pytest.fixture
def receiver() -> Any:
    with Receiver().running() as running:
        yield running


async def _webhooks_to(receiver: Receiver, http: httpx.AsyncClient, base: str, code: str) -> None:
    """The delegation's webhooks go to the receiver, at ``/hooks/{code}``."""
    endpoint = await register_endpoint(http, base, code, receiver.url(f"/hooks/{code}"))
    receiver.route(f"/hooks/{code}", endpoint["secret"])


async def _webhooks_of(receiver: Receiver, path: str, count: int) -> list[dict[str, Any]] | None:
    bodies = [json.loads(r.body) for r in receiver.accepted(path)]
    rollups = [b for b in bodies if b["type"] == ROLLUP]
    return rollups if len(rollups) >= count else None


async def test_a_status_change_publishes_one_rollup_event_listing_every_scope_it_moved(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    plans, base, headers = services.url("plans"), services.url("notifications"), secretariat_headers
    plan = await create_plan(http, plans, headers)
    pillar = await add_section(http, plans, headers, plan["id"], code="1", title="Security")
    area = await add_section(
        http, plans, headers, plan["id"], code="1.1", title="Health", parent_id=pillar["id"]
    )
    line = await add_action_line(
        http,
        plans,
        headers,
        plan["id"],
        section_id=area["id"],
        tags=["health", "education"],
        leads=["UN"],
    )
    await add_action_line(http, plans, headers, plan["id"])  # the plan: 1 of 2 lines
    code = await new_delegation(http, base, headers)
    await _webhooks_to(receiver, http, base, code)
    await subscribe(http, base, code, "plan", plan["id"], event_types=["rollup.changed"])

    await change_status(http, plans, headers, line, "completed")

    async def published() -> list[Any] | None:
        records = await read_all(services.infra.kafka_admin, PLANS_EVENTS, settle=0.5)
        mine = [json.loads(r.value) for r in records if r.key == plan["id"].encode()]
        found = [e for e in mine if e["type"] == ROLLUP]
        return found or None

    events = await eventually(published, timeout=60, what="the rollup event on the topic")
    assert len(events) == 1, events
    event = events[0]
    assert event["dataschemaversion"] == 2
    assert event["subject"] == f"plans/{plan['id']}/rollups"
    data = event["data"]
    assert data["plan_id"] == plan["id"]
    scopes = {(c["scope_kind"], c["scope_key"]): c for c in data["changes"]}
    assert set(scopes) == {
        ("plan", plan["id"]),
        ("section", pillar["id"]),
        ("section", area["id"]),
        ("tag", "health"),
        ("tag", "education"),
        ("lead", "UN"),
    }
    whole = scopes[("plan", plan["id"])]
    assert (whole["before"]["completed"], whole["after"]["completed"]) == (0, 1)
    assert (whole["after"]["counted"], whole["after"]["completion_rate"]) == (2, 0.5)
    assert scopes[("tag", "health")]["after"]["completion_rate"] == 1.0

    webhooks = await eventually(
        lambda: _webhooks_of(receiver, f"/hooks/{code}", 1), timeout=60, what="its webhook"
    )
    assert len(webhooks) == 1
    assert webhooks[0]["dataschemaversion"] == 2
    assert webhooks[0]["data"] == data  # forwarded as published
    entries = await listed(http, f"{base}/inbox", headers_of(code))
    assert [e["event_type"] for e in entries] == [ROLLUP]
    assert entries[0]["title"].endswith(": 50.0% completed")
    # Each scope named, the sections by their titles.
    assert entries[0]["body"].count("completed (was") == 6
    assert "section Security: 1 of 1 completed (was 0 of 1)." in entries[0]["body"]
    assert "section Health: 1 of 1" in entries[0]["body"]


async def test_a_version_1_rollup_event_is_still_taken_in_and_delivered_as_it_was_written(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    plans, base = services.url("plans"), services.url("notifications")
    plan = await create_plan(http, plans, secretariat_headers)
    code = await new_delegation(http, base, secretariat_headers)
    await _webhooks_to(receiver, http, base, code)
    await subscribe(http, base, code, "plan", plan["id"], thresholds=[50])
    figures = {
        "total": 2,
        "counted": 2,
        "by_status": {},
        "addressed": 0,
        "completed_ahead_of_schedule": 0,
    }
    old = plan_events.RollupChanged(
        plan_id=uuid.UUID(plan["id"]),
        scope_kind="plan",
        scope_key=plan["id"],
        rule_version=1,
        before=plan_events.RollupFigures(**figures, completed=0, completion_rate=0),
        after=plan_events.RollupFigures(**figures, completed=1, completion_rate=0.5),
        cause_event_id=str(uuid.uuid4()),
    )
    message = envelope(old, source=plan_events.SOURCE, subject=f"plans/{plan['id']}/rollups/plan")
    assert message.dataschemaversion == 1
    await produce(
        services.infra.kafka_admin, PLANS_EVENTS, [(plan["id"].encode(), message.to_bytes())]
    )

    webhooks = await eventually(
        lambda: _webhooks_of(receiver, f"/hooks/{code}", 1), timeout=60, what="its webhook"
    )
    assert "dataschemaversion" not in webhooks[0]  # a version-1 body, as it always was
    assert webhooks[0]["event_id"] == message.id
    assert webhooks[0]["data"] == message.data
    entries = await listed(http, f"{base}/inbox", headers_of(code))
    assert [e["title"].rsplit(": ", 1)[1] for e in entries] == ["50.0% completed"]
    activity = await listed(http, f"{base}/activity", secretariat_headers, plan_id=plan["id"])
    versions = {e["event_id"]: e["schema_version"] for e in activity}
    assert versions[message.id] == 1

"""Meetings' decisions applied by the plans service, from real Kafka events."""

import uuid
from datetime import UTC, date, datetime

import httpx
import pytest

from shared.contracts import meetings as meeting_events
from shared.contracts import plans as plan_events
from shared.events import CloudEvent, InvalidEvent, envelope, parse_data
from shared.topics import MEETINGS_EVENTS, PLANS_EVENTS
from tests.support.api import add_action_line, add_section, create_plan
from tests.support.kafka import produce, read_all
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def _decision(body: meeting_events.DecisionBody, meeting_id: uuid.UUID | None = None) -> CloudEvent:
    payload = meeting_events.DecisionAdopted(
        meeting_id=meeting_id or uuid.uuid4(),
        series="Plans test series",  # not a series the demo delegations follow
        meeting_title="CPR-UN meeting 2020",
        meeting_date=date(2020, 9, 15),
        decision_id=uuid.uuid4(),
        title="Review of the Plan of Action",
        body=body,
        adopted_at=datetime.now(UTC),
    )
    return envelope(payload, source=meeting_events.SOURCE, subject=f"meetings/{payload.meeting_id}")


async def _plan_events_of(
    services: Services, decision_id: uuid.UUID
) -> list[plan_events.EventContract]:  # type: ignore[name-defined]
    found = []
    for record in await read_all(services.infra.kafka_admin, PLANS_EVENTS, settle=1):
        try:
            data = parse_data(CloudEvent.from_bytes(record.value))
        except InvalidEvent:
            continue  # other tests' poison messages
        if getattr(data, "decision_id", None) == decision_id:
            found.append(data)
    return found


async def test_a_status_review_applies_once_even_when_delivered_twice_and_reports_rejections(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    plan = await create_plan(http, plans, secretariat_headers)
    pid = plan["id"]
    pillar = await add_section(http, plans, secretariat_headers, pid, code="1")
    first = await add_action_line(
        http, plans, secretariat_headers, pid, code="1.1", section_id=pillar["id"]
    )
    second = await add_action_line(
        http, plans, secretariat_headers, pid, code="1.2", target_date="2020-12-31"
    )
    done = await http.patch(
        f"{plans}/action-lines/{second['id']}/status",
        json={"status": "discontinued", "expected_version": 1},
        headers=secretariat_headers,
    )
    assert done.status_code == 200

    review = meeting_events.StatusReview(
        plan_id=uuid.UUID(pid),
        effective_date=date(2020, 9, 15),
        lines=[
            meeting_events.ReviewedLine(
                code="1.1", status="completed", note="completed ahead of schedule"
            ),
            meeting_events.ReviewedLine(action_line_id=uuid.UUID(second["id"]), status="on_hold"),
            meeting_events.ReviewedLine(code="9.9.9", status="completed"),
        ],
    )
    event = _decision(review)
    key = event.data["meeting_id"].encode()
    await produce(
        services.infra.kafka_admin,
        MEETINGS_EVENTS,
        [(key, event.to_bytes()), (key, event.to_bytes())],
    )

    async def applied() -> dict | None:
        line = (
            await http.get(f"{plans}/action-lines/{first['id']}", headers=secretariat_headers)
        ).json()
        return line if line["status"] == "completed" else None

    line = await eventually(applied, what="the reviewed line completed")
    assert line["version"] == 2
    history = (
        await http.get(f"{plans}/action-lines/{first['id']}/history", headers=secretariat_headers)
    ).json()
    [entry] = history["items"]
    decision_id = uuid.UUID(event.data["decision_id"])
    assert (entry["source_kind"], entry["source_id"]) == ("meeting_decision", str(decision_id))
    assert entry["effective_date"] == "2020-09-15"
    assert entry["note"] == "completed ahead of schedule"

    async def answered() -> list | None:
        found = await _plan_events_of(services, decision_id)
        return [e for e in found if isinstance(e, plan_events.StatusReviewProcessed)] or None

    processed = await eventually(answered, what="the review's answer on the plans topic")
    assert len(processed) == 1  # the duplicate delivery had no second effect
    outcomes = {(r.code, r.outcome) for r in processed[0].results}
    assert outcomes == {("1.1", "applied"), ("1.2", "rejected"), ("9.9.9", "rejected")}
    reasons = {r.code: r.reason for r in processed[0].results}
    assert "cannot go from discontinued to on_hold" in reasons["1.2"]
    assert reasons["9.9.9"] == "no such action line in the plan"
    unchanged = (
        await http.get(f"{plans}/action-lines/{second['id']}", headers=secretariat_headers)
    ).json()
    assert (unchanged["status"], unchanged["version"]) == ("discontinued", 2)


async def test_a_plan_approval_decision_approves_activates_and_carries_over_unfinished_lines(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    old = await create_plan(http, plans, secretariat_headers)
    pillar = await add_section(
        http, plans, secretariat_headers, old["id"], code="3", title="Socio-Cultural"
    )
    finished = await add_action_line(
        http, plans, secretariat_headers, old["id"], code="3.1", section_id=pillar["id"]
    )
    unfinished = await add_action_line(
        http,
        plans,
        secretariat_headers,
        old["id"],
        code="3.2",
        section_id=pillar["id"],
        tags=["cyber-security"],
    )
    for target in ("submit", "approve", "activate"):
        body = (
            {}
            if target == "activate"
            else {"carry_over_unfinished": False}
            if target == "approve"
            else {}
        )
        moved = await http.post(
            f"{plans}/plans/{old['id']}/{target}", json=body, headers=secretariat_headers
        )
        assert moved.status_code == 200, moved.text
    await http.patch(
        f"{plans}/action-lines/{finished['id']}/status",
        json={"status": "completed", "expected_version": 1},
        headers=secretariat_headers,
    )
    new = await create_plan(
        http,
        plans,
        secretariat_headers,
        predecessor_id=old["id"],
        period_start="2021-01-01",
        period_end="2025-12-31",
    )
    ministerial = uuid.uuid4()
    submitted = await http.post(
        f"{plans}/plans/{new['id']}/submit",
        json={"submitted_to_meeting_id": str(ministerial)},
        headers=secretariat_headers,
    )
    assert submitted.json()["submitted_to_meeting_id"] == str(ministerial)

    approval = _decision(
        meeting_events.PlanApproval(plan_id=uuid.UUID(new["id"]), activate=True), ministerial
    )
    await produce(
        services.infra.kafka_admin,
        MEETINGS_EVENTS,
        [(str(ministerial).encode(), approval.to_bytes())],
    )

    async def active() -> dict | None:
        plan = (await http.get(f"{plans}/plans/{new['id']}", headers=secretariat_headers)).json()
        return plan if plan["status"] == "active" else None

    await eventually(active, what="the new plan active")
    predecessor = (await http.get(f"{plans}/plans/{old['id']}", headers=secretariat_headers)).json()
    assert (predecessor["status"], predecessor["successor_id"]) == ("superseded", new["id"])

    carried = (
        await http.get(f"{plans}/plans/{new['id']}/action-lines", headers=secretariat_headers)
    ).json()["items"]
    assert [(line["code"], line["carried_over_from"], line["tags"]) for line in carried] == [
        ("3.2", unfinished["id"], ["cyber-security"])
    ]
    sections = (
        await http.get(f"{plans}/plans/{new['id']}/sections", headers=secretariat_headers)
    ).json()
    assert [(s["code"], s["title"]) for s in sections] == [("3", "Socio-Cultural")]
    original = (
        await http.get(f"{plans}/action-lines/{unfinished['id']}", headers=secretariat_headers)
    ).json()
    assert original["carried_over_to"] == carried[0]["id"]

    again = _decision(meeting_events.PlanApproval(plan_id=uuid.UUID(new["id"])), ministerial)
    await produce(
        services.infra.kafka_admin,
        MEETINGS_EVENTS,
        [(str(ministerial).encode(), again.to_bytes())],
    )

    async def refused() -> list | None:
        found = await _plan_events_of(services, uuid.UUID(again.data["decision_id"]))
        return [e for e in found if isinstance(e, plan_events.PlanDecisionRejected)] or None

    [rejection] = await eventually(refused, what="the second approval rejected")
    assert "cannot go from active to approved" in rejection.reason


async def test_a_forbidden_plan_transition_through_the_api_is_a_409_naming_the_allowed_ones(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    plan = await create_plan(http, plans, secretariat_headers)
    response = await http.post(f"{plans}/plans/{plan['id']}/activate", headers=secretariat_headers)
    assert response.status_code == 409
    assert response.json()["allowed"] == ["submitted"]

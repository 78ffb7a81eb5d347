"""Messages a person can act on without another call: a webhook and an inbox entry about a
status change name the plan and the line by code and text, the old and new status, who
changed it (a caller, or the meeting whose decision it was) and the plan's figures right
after; a commitment names its party, text and due date."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.api import add_action_line, add_section, create_plan
from tests.support.meetings import act, decide, meeting_body, schedule
from tests.support.notifications import (
    STATUS_CHANGED,
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

DECISION = "org.accord.meetings.decision.adopted"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


async def test_a_status_change_and_a_commitment_say_what_a_person_needs(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    plans, meetings, base = (services.url(n) for n in ("plans", "meetings", "notifications"))
    headers = secretariat_headers
    code = await new_delegation(http, base, headers)
    endpoint = await register_endpoint(http, base, code, receiver.url(f"/read/{code}"))
    receiver.route(f"/read/{code}", endpoint["secret"])

    plan = await create_plan(http, plans, headers, title="ASEAN-UN Plan of Action")
    pillar = await add_section(http, plans, headers, plan["id"], code="1")
    first, _ = [
        await add_action_line(
            http, plans, headers, plan["id"], code=c, text=f"Workshop {c}", section_id=pillar["id"]
        )
        for c in ("1.1", "1.2")
    ]
    series = f"CPR-{uuid.uuid4().hex[:6]}"
    meeting = await schedule(
        http,
        meetings,
        headers,
        meeting_body(
            series,
            "2020-09-15T09:00:00+07:00",
            participants=[],
            co_chairs=[],
            plans_under_review=[plan["id"]],
            title="CPR-UN meeting 2020",
        ),
    )
    await subscribe(http, base, code, "plan", plan["id"])
    await subscribe(http, base, code, "meeting_series", series)
    await act(http, meetings, headers, meeting["id"], "start")
    review = {
        "kind": "status_review",
        "plan_id": plan["id"],
        "lines": [{"code": "1.1", "status": "completed"}],
    }
    await decide(http, meetings, headers, meeting["id"], "Review", review)
    pledge = {
        "kind": "commitment",
        "party": "UN",
        "text": "Provide two experts",
        "due_date": "2021-06-30",
    }
    await decide(http, meetings, headers, meeting["id"], "Experts", pledge)

    def webhooks_of(event_type: str) -> list[dict[str, Any]]:
        bodies = [json.loads(r.body) for r in receiver.accepted(f"/read/{code}")]
        return [b for b in bodies if b["type"] == event_type]

    async def both() -> list[dict[str, Any]] | None:
        changed, decided = webhooks_of(STATUS_CHANGED), webhooks_of(DECISION)
        commitments = [d for d in decided if d["data"]["body"]["kind"] == "commitment"]
        return [changed[0], commitments[0]] if changed and commitments else None

    changed, commitment = await eventually(both, timeout=60, what="both webhooks")
    about = changed["context"]
    assert about["plan"] == {
        "id": plan["id"],
        "code": plan["code"],
        "title": "ASEAN-UN Plan of Action",
    }
    assert about["action_line"] == {"id": first["id"], "code": "1.1", "text": "Workshop 1.1"}
    assert (about["old_status"], about["new_status"]) == ("not_started", "completed")
    assert about["effective_date"] == "2020-09-15"
    assert about["changed_by"]["kind"] == "meeting_decision"
    assert about["changed_by"]["meeting"]["title"] == "CPR-UN meeting 2020"
    assert about["plan_figures"] == {
        "lines": 2,
        "completed": 1,
        "by_status": {"completed": 1, "not_started": 1},
    }
    assert commitment["context"]["commitment"] == {
        "party": "UN",
        "text": "Provide two experts",
        "due_date": "2021-06-30",
    }
    assert commitment["context"]["meeting"]["date"] == "2020-09-15"

    async def entries_of_both() -> list[dict[str, Any]] | None:
        entries = await listed(http, f"{base}/inbox", headers_of(code))
        types = {e["event_type"] for e in entries}
        return entries if {STATUS_CHANGED, DECISION} <= types else None

    entries = await eventually(entries_of_both, what="inbox entries")
    entry = next(e for e in entries if e["event_type"] == STATUS_CHANGED)
    assert entry["context"] == about
    assert "Workshop 1.1" in entry["body"] and "CPR-UN meeting 2020" in entry["body"]
    assert "1 of 2 lines completed" in entry["body"]
    titles = [e["title"] for e in entries if e["event_type"] == DECISION]
    assert "Commitment by UN: Provide two experts" in titles

    # A change through the API names its caller.
    line = (await http.get(f"{plans}/action-lines/{first['id']}", headers=headers)).json()
    reopened = await http.patch(
        f"{plans}/action-lines/{first['id']}/status",
        json={"status": "ongoing", "expected_version": line["version"]},
        headers=headers,
    )
    assert reopened.status_code == 200, reopened.text

    async def by_api() -> dict[str, Any] | None:
        found = [b for b in webhooks_of(STATUS_CHANGED) if b["context"]["new_status"] == "ongoing"]
        return found[0]["context"] if found else None

    reopened_about = await eventually(by_api, what="the reopening's webhook")
    assert reopened_about["changed_by"] == {
        "kind": "api",
        "actor": "test-secretariat",
        "decision_id": None,
        "meeting": None,
    }
    assert reopened_about["plan_figures"]["completed"] == 0

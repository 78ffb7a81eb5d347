"""Meetings and plans together: decisions adopted at a meeting change the plans service's
data only through events, and the meeting shows what plans made of them."""

import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import add_action_line, add_section, create_plan
from tests.support.meetings import act, briefing, decide, meeting_body, schedule
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _get(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await http.get(url, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _meeting_reviewing_a_plan(
    services: Services, http: httpx.AsyncClient, headers: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """A plan with lines 1.1 and 1.2 in plans, and a meeting in progress reviewing it."""
    plans, meetings = services.url("plans"), services.url("meetings")
    plan = await create_plan(http, plans, headers)
    pillar = await add_section(http, plans, headers, plan["id"], code="1")
    lines = [
        await add_action_line(http, plans, headers, plan["id"], code=code, section_id=pillar["id"])
        for code in ("1.1", "1.2")
    ]
    body = meeting_body(
        f"CPR-{uuid.uuid4().hex[:6]}", "2020-09-15T09:00:00+07:00", plans_under_review=[plan["id"]]
    )
    meeting = await schedule(http, meetings, headers, body)
    await act(http, meetings, headers, meeting["id"], "start")
    return plan, lines, meeting


async def test_a_status_review_adopted_at_a_meeting_changes_the_lines_and_rollups_in_plans(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, meetings = services.url("plans"), services.url("meetings")
    plan, (first, _), meeting = await _meeting_reviewing_a_plan(services, http, secretariat_headers)
    review = await decide(
        http,
        meetings,
        secretariat_headers,
        meeting["id"],
        "Review of the Plan of Action",
        {
            "kind": "status_review",
            "plan_id": plan["id"],
            "lines": [
                {"action_line_id": first["id"], "status": "completed"},
                {"code": "1.2", "status": "ongoing"},
            ],
        },
    )

    async def line_completed() -> bool:
        line = await _get(http, f"{plans}/action-lines/{first['id']}", secretariat_headers)
        return line["status"] == "completed"

    await eventually(line_completed, what="the reviewed line completed in plans")
    rollups = await _get(http, f"{plans}/plans/{plan['id']}/rollups", secretariat_headers)
    assert rollups["plan"]["figures"]["completed"] == 1
    assert rollups["plan"]["figures"]["by_status"]["ongoing"] == 1

    async def applied() -> dict[str, Any] | None:
        decision = await _get(http, f"{meetings}/decisions/{review['id']}", secretariat_headers)
        return decision if decision["outcome"] == "applied" else None

    await eventually(applied, what="plans' answer on the review")
    await act(http, meetings, secretariat_headers, meeting["id"], "conclude")
    frozen = await briefing(http, meetings, secretariat_headers, meeting["id"])
    assert frozen["frozen"] is True
    assert frozen["plans"][0]["overall"]["by_status"] == {"completed": 1, "ongoing": 1}


async def test_a_plan_approval_decision_approves_the_plan_in_plans(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, meetings = services.url("plans"), services.url("meetings")
    draft = await create_plan(
        http, plans, secretariat_headers, period_start="2021-01-01", period_end="2025-12-31"
    )
    cpr = await schedule(
        http, meetings, secretariat_headers, meeting_body("CPR", "2020-09-15T09:00:00+07:00")
    )
    ministerial = await schedule(
        http,
        meetings,
        secretariat_headers,
        meeting_body("AMM", "2020-10-20T09:00:00+07:00", level="Ministerial"),
    )
    await act(http, meetings, secretariat_headers, cpr["id"], "start")
    await decide(
        http,
        meetings,
        secretariat_headers,
        cpr["id"],
        "Submit the draft Plan of Action 2021-2025 to the Ministerial Meeting",
        {
            "kind": "plan_submission",
            "plan_id": draft["id"],
            "submitted_to_meeting_id": ministerial["id"],
        },
    )

    async def plan_status(expected: str) -> bool:
        return (await _get(http, f"{plans}/plans/{draft['id']}", secretariat_headers))[
            "status"
        ] == expected

    await eventually(
        lambda: plan_status("submitted"), what="the plan submitted in plans", timeout=15
    )
    await act(http, meetings, secretariat_headers, ministerial["id"], "start")
    approval = await decide(
        http,
        meetings,
        secretariat_headers,
        ministerial["id"],
        "Approval of the Plan of Action 2021-2025",
        {"kind": "plan_approval", "plan_id": draft["id"]},
    )
    await eventually(lambda: plan_status("approved"), what="the plan approved in plans")

    async def applied() -> bool:
        decision = await _get(http, f"{meetings}/decisions/{approval['id']}", secretariat_headers)
        return decision["outcome"] == "applied"

    await eventually(applied, what="the approval shown as applied")


async def test_review_lines_plans_rejects_are_shown_and_the_briefing_freezes_with_the_review(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, meetings = services.url("plans"), services.url("meetings")
    plan, (reviewed, untouched), meeting = await _meeting_reviewing_a_plan(
        services, http, secretariat_headers
    )
    # Concluded at once: the briefing must still wait for plans' answer to the review.
    concluded = await act(
        http,
        meetings,
        secretariat_headers,
        meeting["id"],
        "conclude",
        {
            "decisions": [
                {
                    "title": "Review of the Plan of Action",
                    "body": {
                        "kind": "status_review",
                        "plan_id": plan["id"],
                        "lines": [
                            {"action_line_id": reviewed["id"], "status": "completed"},
                            {"code": "9.9", "status": "completed"},
                        ],
                    },
                }
            ]
        },
    )
    assert concluded["status"] == "concluded"

    async def frozen() -> dict[str, Any] | None:
        result = await briefing(http, meetings, secretariat_headers, meeting["id"])
        return result if result["frozen"] else None

    snapshot = await eventually(frozen, what="the frozen briefing")
    assert snapshot["pending_reviews"] == 0
    assert snapshot["plans"][0]["overall"]["by_status"] == {"completed": 1, "not_started": 1}
    decisions = await _get(
        http, f"{meetings}/meetings/{meeting['id']}/decisions", secretariat_headers
    )
    review = decisions["items"][0]
    assert review["outcome"] == "partly_applied"
    assert [line["code"] for line in review["rejected_lines"]] == ["9.9"]
    assert review["rejected_lines"][0]["reason"]

    # A later, backdated change reaches the read model but never the snapshot.
    changed = await http.patch(
        f"{plans}/action-lines/{untouched['id']}/status",
        json={"status": "completed", "expected_version": 1, "effective_date": "2020-09-01"},
        headers=secretariat_headers,
    )
    assert changed.status_code == 200, changed.text
    later = await schedule(
        http,
        meetings,
        secretariat_headers,
        meeting_body("Witness", "2020-09-15T09:00:00+07:00", plans_under_review=[plan["id"]]),
    )

    async def seen() -> bool:
        result = await briefing(http, meetings, secretariat_headers, later["id"])
        return result["plans"][0]["overall"]["completed"] == 2

    await eventually(seen, what="the backdated change in a live briefing")
    assert await briefing(http, meetings, secretariat_headers, meeting["id"]) == snapshot


async def test_a_plan_decision_plans_refuses_shows_the_reason_on_the_decision(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, meetings = services.url("plans"), services.url("meetings")
    draft = await create_plan(http, plans, secretariat_headers)
    meeting = await schedule(
        http, meetings, secretariat_headers, meeting_body("AMM", "2020-10-20T09:00:00+07:00")
    )
    await act(http, meetings, secretariat_headers, meeting["id"], "start")
    approval = await decide(
        http,
        meetings,
        secretariat_headers,
        meeting["id"],
        "Approval of a plan never submitted",
        {"kind": "plan_approval", "plan_id": draft["id"]},
    )

    async def answered() -> dict[str, Any] | None:
        decision = await _get(http, f"{meetings}/decisions/{approval['id']}", secretariat_headers)
        return decision if decision["outcome"] != "pending" else None

    decision = await eventually(answered, what="plans' answer on the decision")
    assert decision["outcome"] == "rejected"
    assert decision["rejection_reason"]
    assert (await _get(http, f"{plans}/plans/{draft['id']}", secretariat_headers))[
        "status"
    ] == "draft"

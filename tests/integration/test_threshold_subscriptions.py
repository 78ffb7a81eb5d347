"""A delegation asks to be told when a plan crosses 50 % completion: it is told once when the
plan reaches it, not again while it stays above, and once more when it falls below; a
threshold on anything but a plan or a section is refused on its field."""

from typing import Any

import httpx
import pytest

from tests.support.api import add_action_line, change_status, create_plan
from tests.support.notifications import headers_of, listed, new_delegation, subscribe
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ROLLUP = "org.accord.plans.rollup.changed"
STATUS = "org.accord.plans.action_line.status_changed"


async def test_a_plan_crossing_a_threshold_is_told_once_per_crossing(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, base, headers = services.url("plans"), services.url("notifications"), secretariat_headers
    watcher = await new_delegation(http, base, headers)
    follower = await new_delegation(http, base, headers)
    plan = await create_plan(http, plans, headers)
    lines = [await add_action_line(http, plans, headers, plan["id"]) for _ in range(4)]
    subscription = await subscribe(
        http, base, watcher, "plan", plan["id"], thresholds=[50], channels=["inbox"]
    )
    assert subscription["thresholds"] == [50.0]
    await subscribe(http, base, follower, "plan", plan["id"], channels=["inbox"])

    # 25 %, 50 % (reached), 75 %, then back to 50 % (still at it), then 25 % (fell below).
    for line in lines[:3]:
        await change_status(http, plans, headers, line, "completed")
    for line in lines[:2]:
        await change_status(http, plans, headers, line, "ongoing")

    async def follower_saw_everything() -> list[dict[str, Any]] | None:
        entries = await listed(http, f"{base}/inbox", headers_of(follower))
        changes = [e for e in entries if e["event_type"] == STATUS]
        rollups = [e for e in entries if e["event_type"] == ROLLUP]
        return entries if len(changes) == 5 and len(rollups) >= 5 else None

    await eventually(follower_saw_everything, timeout=60, what="the follower told of every change")
    entries = await listed(http, f"{base}/inbox", headers_of(watcher))
    assert [e["event_type"] for e in entries] == [ROLLUP, ROLLUP]
    # Newest first: fell below 50 %, then reached it.
    assert [e["title"].rsplit(": ", 1)[1] for e in entries] == [
        "25.0% completed",
        "50.0% completed",
    ]


@pytest.mark.parametrize("kind, key", [("tag", "humanitarian"), ("meeting_series", "CPR-UN")])
async def test_thresholds_are_for_a_plan_or_a_section(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    kind: str,
    key: str,
) -> None:
    base = services.url("notifications")
    code = await new_delegation(http, base, secretariat_headers)
    response = await http.post(
        f"{base}/subscriptions",
        json={"target_kind": kind, "target_key": key, "thresholds": [90]},
        headers=headers_of(code),
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["body.thresholds"]

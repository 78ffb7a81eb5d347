"""Rollups through the event path, against the real broker and database: kept current by
the plans service's own events, equal to a recount, rebuildable by replay, as of any date."""

import asyncio
import os
import sys
from typing import Any

import httpx
import pytest

from tests.support.api import add_action_line, add_section, create_plan
from tests.support.stack import REPO, Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _set_status(
    http: httpx.AsyncClient, plans: str, headers: dict, line: dict, status: str, on: str
) -> dict:
    response = await http.patch(
        f"{plans}/action-lines/{line['id']}/status",
        json={"status": status, "effective_date": on, "expected_version": line["version"]},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _rollups(
    http: httpx.AsyncClient, plans: str, headers: dict, plan_id: str, **params: Any
) -> dict:
    response = await http.get(f"{plans}/plans/{plan_id}/rollups", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _build_plan(http: httpx.AsyncClient, plans: str, headers: dict) -> dict[str, Any]:
    """Two pillars, one with a sub-area; five lines with tags, leads and target dates."""
    plan = await create_plan(
        http, plans, headers, period_start="2016-01-01", period_end="2020-12-31"
    )
    pid = plan["id"]
    security = await add_section(http, plans, headers, pid, code="1", title="Political-Security")
    peace = await add_section(
        http, plans, headers, pid, code="1.1", title="Peacekeeping", parent_id=security["id"]
    )
    economy = await add_section(http, plans, headers, pid, code="2", title="Economic")

    async def line(
        code: str, section: dict, tags: list[str], target: str, weight: float = 1
    ) -> dict:
        return await add_action_line(
            http, plans, headers, pid, code=code, section_id=section["id"], tags=tags,
            leads=["UN"], target_date=target, weight=weight,
        )  # fmt: skip

    lines = {
        "1.1.1": await line("1.1.1", peace, ["peacekeeping"], "2020-12-31", weight=3),
        "1.1.2": await line("1.1.2", peace, ["peacekeeping", "gender"], "2019-06-30"),
        "1.2": await line("1.2", security, ["counter-terrorism"], "2020-12-31"),
        "2.1": await line("2.1", economy, ["economic-integration"], "2020-12-31"),
        "2.2": await line("2.2", economy, ["economic-integration"], "2018-12-31"),
    }
    return {"plan": plan, "sections": {"1": security, "1.1": peace, "2": economy}, "lines": lines}


async def test_status_changes_update_every_affected_rollup_through_the_event_path(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    built = await _build_plan(http, plans, secretariat_headers)
    pid, lines, sections = built["plan"]["id"], built["lines"], built["sections"]
    await _set_status(
        http, plans, secretariat_headers, lines["1.1.1"], "completed", "2020-09-15"
    )  # ahead
    await _set_status(
        http, plans, secretariat_headers, lines["1.1.2"], "completed", "2020-09-15"
    )  # late
    await _set_status(http, plans, secretariat_headers, lines["2.1"], "ongoing", "2020-03-01")
    await _set_status(http, plans, secretariat_headers, lines["2.2"], "discontinued", "2018-01-01")

    async def settled() -> dict | None:
        rollups = await _rollups(http, plans, secretariat_headers, pid)
        return (
            rollups
            if rollups["plan"]["figures"]["completed"] == 2
            and rollups["plan"]["figures"]["by_status"]["discontinued"] == 1
            else None
        )

    rollups = await eventually(settled, what="the plan rollup to reflect the four changes")
    plan = rollups["plan"]["figures"]
    assert rollups["computed_from"] == "read_model"
    assert rollups["rule"]["version"] == 1
    assert (plan["total"], plan["completed"], plan["addressed"]) == (5, 2, 3)
    assert plan["completion_percent"] == 40.0
    assert plan["completed_ahead_of_schedule"] == 1
    assert plan["by_status"] == {
        "not_started": 1,
        "ongoing": 1,
        "completed": 2,
        "on_hold": 0,
        "discontinued": 1,
    }

    by_section = {s["code"]: s for s in rollups["sections"]}
    assert [s["code"] for s in rollups["sections"]] == ["1", "1.1", "2"]
    assert (by_section["1"]["figures"]["total"], by_section["1"]["figures"]["completed"]) == (
        3,
        2,
    )  # recursive
    assert by_section["1.1"]["depth"] == 2
    assert by_section["1.1"]["figures"]["completion_rate"] == 1.0
    assert by_section["2"]["figures"]["addressed"] == 1
    by_tag = {t["key"]: t["figures"] for t in rollups["tags"]}
    assert by_tag["peacekeeping"]["completed"] == 2
    assert by_tag["gender"]["completed_ahead_of_schedule"] == 0
    assert [lead["key"] for lead in rollups["leads"]] == ["UN"]
    assert sections["1"]["id"] in {s["key"] for s in rollups["sections"]}

    check = (
        await http.get(f"{plans}/plans/{pid}/rollups/check", headers=secretariat_headers)
    ).json()
    assert check == {"plans_checked": 1, "consistent": True, "differences": []}


async def test_a_weighted_rule_with_exclusions_is_a_new_version_shown_side_by_side(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    built = await _build_plan(http, plans, secretariat_headers)
    pid, lines = built["plan"]["id"], built["lines"]
    await _set_status(http, plans, secretariat_headers, lines["1.1.1"], "completed", "2020-09-15")
    await _set_status(http, plans, secretariat_headers, lines["2.2"], "discontinued", "2018-01-01")
    rule = await http.post(
        f"{plans}/counting-rules",
        json={
            "name": "weighted, discontinued excluded",
            "mode": "weighted",
            "excluded_statuses": ["discontinued"],
        },
        headers=secretariat_headers,
    )
    assert rule.status_code == 201, rule.text
    version = rule.json()["version"]
    assert version >= 2

    async def weighted() -> dict | None:
        rollups = await _rollups(http, plans, secretariat_headers, pid, rule_version=version)
        done = rollups["plan"]["figures"]["by_status"]
        return rollups if (done["completed"], done["discontinued"]) == (3, 1) else None

    figures = (await eventually(weighted, what="weighted figures"))["plan"]["figures"]
    # weights: 3 (completed) + 1 + 1 + 1 + 1 (discontinued, excluded) => 3 of 6
    assert (figures["total"], figures["counted"], figures["completion_rate"]) == (7, 6, 0.5)
    default = (await _rollups(http, plans, secretariat_headers, pid))["plan"]["figures"]
    assert (default["completed"], default["counted"]) == (1, 5)

    unknown = await http.get(
        f"{plans}/plans/{pid}/rollups", params={"rule_version": 999}, headers=secretariat_headers
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "query.rule_version"


async def test_rollups_as_of_a_past_date_come_from_the_journal(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    built = await _build_plan(http, plans, secretariat_headers)
    pid, lines = built["plan"]["id"], built["lines"]
    ongoing = await _set_status(
        http, plans, secretariat_headers, lines["1.2"], "ongoing", "2019-01-01"
    )
    await _set_status(http, plans, secretariat_headers, ongoing, "completed", "2020-09-15")

    before = await _rollups(http, plans, secretariat_headers, pid, as_of="2018-12-31")
    during = await _rollups(http, plans, secretariat_headers, pid, as_of="2019-06-30")
    after = await _rollups(http, plans, secretariat_headers, pid, as_of="2020-09-15")

    assert before["computed_from"] == "journal"
    assert before["plan"]["figures"]["by_status"]["not_started"] == 5
    assert during["plan"]["figures"]["by_status"]["ongoing"] == 1
    assert after["plan"]["figures"]["completed"] == 1
    assert after["plan"]["figures"]["completed_ahead_of_schedule"] == 1
    # On 2019-06-30 line 1.1.2 (target 2019-06-30) is due, not yet overdue; 2.2 (2018) is.
    assert during["plan"]["figures"]["overdue"] == 1

    history = await http.get(
        f"{plans}/action-lines/{lines['1.2']['id']}/history",
        params={"effective_from": "2019-01-01", "effective_to": "2019-12-31"},
        headers=secretariat_headers,
    )
    assert [(e["from_status"], e["to_status"]) for e in history.json()["items"]] == [
        ("not_started", "ongoing")
    ]
    plan_history = await http.get(
        f"{plans}/plans/{pid}/history", params={"limit": 1}, headers=secretariat_headers
    )
    page = plan_history.json()
    assert page["items"][0]["to_status"] == "completed" and page["next_cursor"]
    second = await http.get(
        f"{plans}/plans/{pid}/history",
        params={"limit": 1, "cursor": page["next_cursor"]},
        headers=secretariat_headers,
    )
    assert second.json()["items"][0]["to_status"] == "ongoing"


async def test_replaying_the_events_rebuilds_identical_rollups(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    built = await _build_plan(http, plans, secretariat_headers)
    pid, lines = built["plan"]["id"], built["lines"]
    await _set_status(http, plans, secretariat_headers, lines["1.1.1"], "completed", "2020-09-15")
    await _set_status(http, plans, secretariat_headers, lines["2.1"], "on_hold", "2020-02-01")

    async def current() -> dict | None:
        rollups = await _rollups(http, plans, secretariat_headers, pid)
        return rollups if rollups["plan"]["figures"]["by_status"]["on_hold"] == 1 else None

    before = await eventually(current, what="rollups before the rebuild")
    rebuilt, output = await _plans_command(services, "rollups-rebuild")
    assert rebuilt == 0, output
    assert "rollups rebuilt from" in output
    after = await _rollups(http, plans, secretariat_headers, pid)
    assert after == before

    checked, output = await _plans_command(services, "rollups-check")
    assert checked == 0, output
    assert "0 rollups differ" in output


async def _plans_command(services: Services, command: str) -> tuple[int, str]:
    """Run an operator command of the plans service against the suite's stack."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.plans",
        command,
        cwd=REPO,
        env={**os.environ, **services.environment("plans")},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, output.decode()

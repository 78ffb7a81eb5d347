"""Whole plans in and out: JSON and CSV, all or nothing, every problem reported at once."""

import uuid

import httpx
import pytest

from shared.db import COPY_FROM_ROWS
from tests.support.api import add_action_line, add_section, create_plan
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_an_exported_plan_imports_back_with_the_same_lines_statuses_and_rollups(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    plan = await create_plan(http, plans, secretariat_headers)
    pillar = await add_section(
        http, plans, secretariat_headers, plan["id"], code="1", title="Pillar"
    )
    area = await add_section(
        http,
        plans,
        secretariat_headers,
        plan["id"],
        code="1.1",
        title="Area",
        parent_id=pillar["id"],
    )
    line = await add_action_line(
        http, plans, secretariat_headers, plan["id"], code="2.3(a)", section_id=area["id"], tags=["cyber"],
        target_date="2020-12-31",
    )  # fmt: skip
    await add_action_line(
        http, plans, secretariat_headers, plan["id"], code="1.2.3", section_id=pillar["id"]
    )
    changed = await http.patch(
        f"{plans}/action-lines/{line['id']}/status",
        json={"status": "completed", "expected_version": 1, "effective_date": "2020-09-15"},
        headers=secretariat_headers,
    )
    assert changed.status_code == 200

    document = (
        await http.get(f"{plans}/plans/{plan['id']}/export", headers=secretariat_headers)
    ).json()
    assert [s["code"] for s in document["sections"]] == ["1", "1.1"]
    assert document["sections"][1]["parent_code"] == "1"
    assert {
        (line["code"], line["status"], line["status_date"]) for line in document["action_lines"]
    } == {
        ("1.2.3", "not_started", None),
        ("2.3(a)", "completed", "2020-09-15"),
    }

    document["plan"]["code"] = f"COPY-{uuid.uuid4().hex[:6]}"
    imported = await http.post(f"{plans}/plans/import", json=document, headers=secretariat_headers)
    assert imported.status_code == 201, imported.text
    copy = imported.json()
    assert (copy["sections_imported"], copy["action_lines_imported"]) == (2, 2)

    again = (
        await http.get(f"{plans}/plans/{copy['plan']['id']}/export", headers=secretariat_headers)
    ).json()
    assert again["action_lines"] == document["action_lines"]
    assert again["sections"] == document["sections"]

    async def rolled_up() -> dict | None:
        response = await http.get(
            f"{plans}/plans/{copy['plan']['id']}/rollups", headers=secretariat_headers
        )
        figures = response.json()["plan"]["figures"]
        return figures if figures["completed"] == 1 else None

    figures = await eventually(rolled_up, what="the imported plan's rollups")
    assert (figures["total"], figures["completed_ahead_of_schedule"]) == (2, 1)
    check = await http.get(
        f"{plans}/plans/{copy['plan']['id']}/rollups/check", headers=secretariat_headers
    )
    assert check.json()["consistent"] is True


async def test_a_plan_document_with_problems_imports_nothing_and_names_each_problem(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    code = f"BAD-{uuid.uuid4().hex[:6]}"
    document = {
        "plan": {
            "code": code,
            "title": "T",
            "partners": ["UN"],
            "period_start": "2021-01-01",
            "period_end": "2020-01-01",
        },
        "sections": [{"code": "1", "title": "Pillar"}],
        "action_lines": [
            {"code": "1.1", "section_code": "1", "text": "Fine"},
            {"code": "1.2", "section_code": "7", "text": "Unknown section"},
            {"code": "1.1", "text": "Duplicate"},
            {"code": "1.4", "text": "Bad date", "target_date": "someday", "colour": "red"},
        ],
    }
    response = await http.post(f"{plans}/plans/import", json=document, headers=secretariat_headers)
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == [
        "plan",
        "action_lines[3].target_date",
        "action_lines[3].colour",
        "action_lines[1].section_code",
        "action_lines[2].code",
    ]
    assert response.json()["detail"] == "the document has 5 problem(s); nothing was imported"
    listed = await http.get(f"{plans}/plans", params={"limit": 200}, headers=secretariat_headers)
    assert code not in {p["code"] for p in listed.json()["items"]}


async def test_a_csv_import_adds_lines_or_nothing_with_line_numbers(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans = services.url("plans")
    plan = await create_plan(http, plans, secretariat_headers)
    await add_section(
        http, plans, secretariat_headers, plan["id"], code="3", title="Socio-Cultural"
    )
    url = f"{plans}/plans/{plan['id']}/action-lines/import"
    csv_headers = {**secretariat_headers, "content-type": "text/csv"}

    bad = "code,section_code,text,status\n3.1,3,Fine,ongoing\n3.2,4,Unknown section,\n3.3,3,Bad status,done\n"
    refused = await http.post(url, content=bad, headers=csv_headers)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == [
        "csv.line 4.status",
        "csv.line 3.section_code",
    ]
    empty = await http.get(f"{plans}/plans/{plan['id']}/action-lines", headers=secretariat_headers)
    assert empty.json()["items"] == []

    good = "code,section_code,text,tags,status,status_date\n3.1,3,Fine,health;education,ongoing,2020-06-01\n3.2,3,Next,,,\n"
    accepted = await http.post(url, content=good, headers=csv_headers)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["action_lines_imported"] == 2
    exported = await http.get(
        f"{plans}/plans/{plan['id']}/action-lines.csv", headers=secretariat_headers
    )
    assert exported.headers["content-type"].startswith("text/csv")
    assert (
        exported.text.splitlines()[1] == "3.1,3,Fine,,health;education,,1.0,3.1,ongoing,2020-06-01"
    )

    duplicate = await http.post(url, content="code,text\n3.2,Again\n", headers=csv_headers)
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"][0]["field"] == "csv.line 2.code"


async def test_a_csv_import_of_thousands_of_lines_is_copied_in_whole_with_its_events(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    """From ``COPY_FROM_ROWS`` rows on, the lines and their events are copied in, not inserted:
    what an export reads back and what the rollups count must be the same."""
    plans = services.url("plans")
    plan = await create_plan(http, plans, secretariat_headers)
    await add_section(http, plans, secretariat_headers, plan["id"], code="3", title="Culture")
    count = COPY_FROM_ROWS + 200
    rows = [
        f"L{n},3,Line {n},UN;ASEAN,tag{n % 7},2020-12-31,{1 + n % 4 / 2},K{n:05},"
        + ("completed,2020-09-15" if n % 10 == 0 else ",")
        for n in range(count)
    ]
    csv = "code,section_code,text,leads,tags,target_date,weight,ordering_key,status,status_date\n"
    imported = await http.post(
        f"{plans}/plans/{plan['id']}/action-lines/import",
        content=csv + "\n".join(rows) + "\n",
        headers={**secretariat_headers, "content-type": "text/csv"},
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["action_lines_imported"] == count

    exported = await http.get(
        f"{plans}/plans/{plan['id']}/action-lines.csv", headers=secretariat_headers
    )
    assert exported.text.splitlines()[1:] == [
        f"L{n},3,Line {n},UN;ASEAN,tag{n % 7},2020-12-31,{1 + n % 4 / 2},K{n:05},"
        + ("completed,2020-09-15" if n % 10 == 0 else "not_started,")
        for n in range(count)
    ]

    async def rolled_up() -> dict | None:
        response = await http.get(
            f"{plans}/plans/{plan['id']}/rollups", headers=secretariat_headers
        )
        figures = response.json()["plan"]["figures"]
        counted = (figures["total"], figures["completed"])
        return figures if counted == (count, count // 10) else None

    # Each line's creation and, for the completed ones, its status change: all of them counted.
    await eventually(rolled_up, what="every imported line's events in the rollups")

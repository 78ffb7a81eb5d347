"""A concluded meeting's statement draft: its figures are those of the frozen snapshot, each
linked to the figure plans published for the meeting (derived again, the same), the text
stays editable with its figures as markers, and the checker finds its claims right."""

import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import add_action_line, add_section, create_plan
from tests.support.meetings import act, briefing, decide, meeting_body, schedule
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_a_statement_draft_links_each_figure_of_the_snapshot_to_its_provenance(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    plans, meetings, h = services.url("plans"), services.url("meetings"), secretariat_headers
    code = f"STM-{uuid.uuid4().hex[:6]}"
    plan = await create_plan(http, plans, h, code=code, title=f"Plan of Action {code}")
    # Pillars come in the order of their codes, in the briefing and in the draft.
    security = await add_section(
        http, plans, h, plan["id"], code="1", title="Political-Security Cooperation"
    )
    economy = await add_section(http, plans, h, plan["id"], code="2", title="Economic Cooperation")
    for line_code, pillar in (("1.1", security), ("1.2", security), ("2.1", economy)):
        await add_action_line(http, plans, h, plan["id"], code=line_code, section_id=pillar["id"])
    body = meeting_body(
        f"CPR-{uuid.uuid4().hex[:6]}", "2020-09-15T09:00:00+07:00", plans_under_review=[plan["id"]]
    )
    meeting = await schedule(http, meetings, h, body)
    drafts = f"{meetings}/meetings/{meeting['id']}/statement-drafts"
    await act(http, meetings, h, meeting["id"], "start")
    review = await decide(
        http, meetings, h, meeting["id"], "Review",
        {
            "kind": "status_review",
            "plan_id": plan["id"],
            "effective_date": "2020-09-15",
            "lines": [
                {"code": "1.1", "status": "completed", "effective_date": "2019-03-01"},
                {"code": "1.2", "status": "ongoing"},
                {"code": "2.1", "status": "completed"},
            ],
        },
    )  # fmt: skip

    async def applied() -> bool:
        decision = (await http.get(f"{meetings}/decisions/{review['id']}", headers=h)).json()
        return bool(decision["outcome"] == "applied")

    await eventually(applied, what="plans' answer on the review")
    early = await http.post(drafts, json={"kind": "statement"}, headers=h)
    assert early.status_code == 409, early.text  # no frozen snapshot yet

    await act(http, meetings, h, meeting["id"], "conclude")

    async def published() -> dict[str, Any] | None:
        result = await briefing(http, meetings, h, meeting["id"])
        return result if result["frozen"] and len(result["published_figures"]) == 3 else None

    frozen = await eventually(published, what="plans' figures published for the meeting")
    assert frozen["plans"][0]["overall"]["completed"] == 2

    created = await http.post(drafts, json={"kind": "statement"}, headers=h)
    assert created.status_code == 201, created.text
    draft = created.json()
    assert created.headers["ETag"] == '"1"'
    words = [f["words"] for f in draft["figures"]]
    assert words == [
        "2 of the 3 action lines (66.7 %)",
        "1 of the 2 action lines (50.0 %)",
        "1 of the 1 action lines (100.0 %)",
    ]
    assert "[[F1]]" in draft["text"] and "2 of the 3" not in draft["text"]
    assert "2 of the 3 action lines (66.7 %) have been completed" in draft["rendered_text"]
    assert "15 September 2020" in draft["rendered_text"]
    for figure in draft["figures"]:
        assert figure["matches_published"] is True, figure
        assert f'href="{figure["provenance"]}"' in draft["rendered_html"]
        kept = (await http.get(f"{plans}{figure['provenance']}", headers=h)).json()
        assert kept["in_words"] == figure["words"] and kept["as_of"] == "2020-09-15"
        again = (await http.get(f"{plans}{kept['links']['rederive']}", headers=h)).json()
        assert again["same"] is True, again
    repeated = await http.post(drafts, json={"kind": "statement"}, headers=h)
    assert repeated.status_code == 200 and repeated.json()["text"] == draft["text"]

    # The checker finds the plan and the date in the text and every claim right.
    checked = (
        await http.post(
            f"{plans}/statements/check", json={"text": draft["rendered_text"]}, headers=h
        )
    ).json()
    assert (checked["plan_code"], checked["as_of"]) == (code, "2020-09-15"), checked
    assert len(checked["claims"]) == 3
    assert {c["verdict"] for c in checked["claims"]} == {"ok"}, checked
    assert all(c["checked_against_record"] for c in checked["claims"]), checked

    # The secretariat edits the text; the figures stay markers, none can be invented.
    edited_text = "The meeting welcomed that [[F1]] are done, [[F2]] in the first pillar."
    url = f"{drafts}/statement"
    edited = await http.put(url, json={"text": edited_text}, headers={**h, "If-Match": '"1"'})
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
    assert edited.json()["rendered_text"] == (
        "The meeting welcomed that 2 of the 3 action lines (66.7 %) are done, "
        "1 of the 2 action lines (50.0 %) in the first pillar."
    )
    invented = await http.put(url, json={"text": "[[F9]] lines"}, headers={**h, "If-Match": '"2"'})
    assert invented.status_code == 422
    assert [e["field"] for e in invented.json()["errors"]] == ["body.text"]
    stale = await http.put(url, json={"text": "x"}, headers={**h, "If-Match": '"1"'})
    assert stale.status_code == 412
    read = await http.get(url, headers=h)
    assert read.json()["text"] == edited_text and read.headers["ETag"] == '"2"'
    missing = await http.get(f"{drafts}/press_release", headers=h)
    assert missing.status_code == 404

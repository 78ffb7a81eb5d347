"""The meetings API against the real PostgreSQL and Kafka: lifecycle, events, queries,
commitments, and bad input answered with clear problems."""

import json
import uuid
from typing import Any

import httpx
import pytest

from shared.auth import Role
from shared.topics import MEETINGS_EVENTS
from tests.support.kafka import read_all
from tests.support.meetings import act, decide, meeting_body, schedule
from tests.support.stack import Services, token
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

EVENT = "org.accord.meetings."


async def _events_of(services: Services, meeting_id: str, count: int) -> list[dict[str, Any]]:
    async def published() -> list[dict[str, Any]] | None:
        records = await read_all(services.infra.kafka_admin, MEETINGS_EVENTS, settle=0.5)
        mine = [r for r in records if r.key == meeting_id.encode()]
        return [json.loads(r.value) for r in mine] if len(mine) >= count else None

    return await eventually(published, what=f"{count} events of meeting {meeting_id}")


async def test_a_meeting_is_scheduled_held_and_concluded_and_each_step_is_published(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base = services.url("meetings")
    plan_id = str(uuid.uuid4())
    body = meeting_body(
        f"CPR-{uuid.uuid4().hex[:6]}",
        "2020-09-15T09:00:00+07:00",
        plans_under_review=[plan_id],
        agenda=[{"title": "Review of the Plan of Action", "plan_ids": [plan_id]}],
    )
    meeting = await schedule(http, base, secretariat_headers, body)
    assert meeting["status"] == "scheduled"
    assert meeting["date"] == "2020-09-15"
    assert [p["attendance"] for p in meeting["participants"]] == ["invited"] * 3
    assert meeting["agenda"][0]["plan_ids"] == [plan_id]

    started = await act(http, base, secretariat_headers, meeting["id"], "start")
    assert started["status"] == "in_progress"
    attended = await http.put(
        f"{base}/meetings/{meeting['id']}/participants/VNM",
        json={"attendance": "present"},
        headers=secretariat_headers,
    )
    assert attended.json()["participants"][0] == {"delegation": "VNM", "attendance": "present"}
    statement = await decide(
        http,
        base,
        secretariat_headers,
        meeting["id"],
        "Partnership",
        {"kind": "statement", "text": "The meeting agreed to further advance the partnership."},
    )
    assert statement["outcome"] == "recorded"
    concluded = await act(
        http,
        base,
        secretariat_headers,
        meeting["id"],
        "conclude",
        {
            "decisions": [
                {
                    "title": "Review",
                    "body": {
                        "kind": "status_review",
                        "plan_id": plan_id,
                        "lines": [{"code": "1.1", "status": "completed"}],
                    },
                }
            ]
        },
    )
    assert concluded["status"] == "concluded"

    events = await _events_of(services, meeting["id"], 5)
    assert [e["type"].removeprefix(EVENT) for e in events] == [
        "meeting.scheduled",
        "meeting.started",
        "decision.adopted",
        "decision.adopted",
        "meeting.concluded",
    ]
    scheduled = events[0]["data"]
    assert scheduled["participants"] == ["VNM", "UN", "MMR"]
    assert scheduled["co_chairs"][1]["delegation"] == "UN"
    assert scheduled["plans_under_review"] == [plan_id]
    review = events[3]["data"]
    assert review["meeting_date"] == "2020-09-15"
    assert review["body"] == {
        "kind": "status_review",
        "plan_id": plan_id,
        "effective_date": "2020-09-15",
        # Each line states its date: the review's, as the line said none of its own.
        "lines": [
            {
                "action_line_id": None,
                "code": "1.1",
                "status": "completed",
                "note": None,
                "effective_date": "2020-09-15",
            }
        ],
    }
    assert {e["source"] for e in events} == {"/accord/meetings"}


async def test_a_postponed_meeting_keeps_its_history_and_publishes_the_new_date(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base = services.url("meetings")
    meeting = await schedule(
        http, base, secretariat_headers, meeting_body("Summit", "2020-04-08T09:00:00+07:00")
    )
    postponed = await act(
        http,
        base,
        secretariat_headers,
        meeting["id"],
        "postpone",
        {
            "starts_at": "2020-06-26T09:00:00+07:00",
            "ends_at": "2020-06-26T12:00:00+07:00",
            "reason": "COVID-19",
        },
    )
    assert postponed["date"] == "2020-06-26"
    assert [(p["old_starts_at"], p["reason"]) for p in postponed["postponements"]] == [
        ("2020-04-08T02:00:00Z", "COVID-19")
    ]
    events = await _events_of(services, meeting["id"], 2)
    assert events[1]["type"] == EVENT + "meeting.postponed"
    assert events[1]["data"]["old_starts_at"] == "2020-04-08T02:00:00Z"


async def test_meetings_are_found_by_series_participant_plan_and_dates_page_by_page(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    viewer_headers: dict[str, str],
) -> None:
    base = services.url("meetings")
    series, plan_id = f"AMM-{uuid.uuid4().hex[:6]}", str(uuid.uuid4())
    ids = []
    for starts_at in (
        "2019-08-01T09:00:00+07:00",
        "2020-09-10T09:00:00+07:00",
        "2099-10-01T09:00:00+07:00",
    ):
        body = meeting_body(series, starts_at, plans_under_review=[plan_id])
        body["participants"].append("TLS" if starts_at.startswith("2099") else "SGP")
        ids.append((await schedule(http, base, secretariat_headers, body))["id"])

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"series": series, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = (await http.get(f"{base}/meetings", params=params, headers=viewer_headers)).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    async def found(**params: Any) -> list[str]:
        response = await http.get(f"{base}/meetings", params=params, headers=viewer_headers)
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["items"]]

    assert await found(plan_id=plan_id) == ids
    assert await found(participant="TLS", series=series) == ids[2:]
    assert (
        await found(
            series=series, starts_from="2020-01-01T00:00:00Z", starts_before="2021-01-01T00:00:00Z"
        )
        == ids[1:2]
    )
    upcoming = await http.get(
        f"{base}/meetings/upcoming", params={"participant": "TLS"}, headers=viewer_headers
    )
    assert ids[2] in [m["id"] for m in upcoming.json()["items"]]
    assert ids[0] not in [m["id"] for m in upcoming.json()["items"]]


async def test_commitments_are_followed_up_and_listed_by_party(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    viewer_headers: dict[str, str],
) -> None:
    base = services.url("meetings")
    party = f"P{uuid.uuid4().hex[:6].upper()}"
    meeting = await schedule(
        http, base, secretariat_headers, meeting_body("CPR", "2020-09-15T09:00:00+07:00")
    )
    await act(http, base, secretariat_headers, meeting["id"], "start")
    commitments = [
        await decide(
            http,
            base,
            secretariat_headers,
            meeting["id"],
            f"Experts on {area}",
            {
                "kind": "commitment",
                "party": party,
                "text": f"Provide experts on {area}",
                "tags": [area],
            },
        )
        for area in ("counter-terrorism", "cyber security")
    ]
    assert {c["follow_up"] for c in commitments} == {"open"}

    fulfilled = await http.post(
        f"{base}/commitments/{commitments[0]['id']}/fulfil",
        json={"fulfilled_on": "2021-03-01"},
        headers=secretariat_headers,
    )
    assert fulfilled.status_code == 200, fulfilled.text
    assert (fulfilled.json()["follow_up"], fulfilled.json()["fulfilled_on"]) == (
        "fulfilled",
        "2021-03-01",
    )
    again = await http.post(
        f"{base}/commitments/{commitments[0]['id']}/fulfil",
        json={"fulfilled_on": "2021-03-02"},
        headers=secretariat_headers,
    )
    assert again.status_code == 409

    open_ones = await http.get(
        f"{base}/commitments", params={"party": party, "follow_up": "open"}, headers=viewer_headers
    )
    assert [c["id"] for c in open_ones.json()["items"]] == [commitments[1]["id"]]
    of_meeting = await http.get(
        f"{base}/meetings/{meeting['id']}/decisions",
        params={"kind": "commitment"},
        headers=viewer_headers,
    )
    assert [c["id"] for c in of_meeting.json()["items"]] == [c["id"] for c in commitments]
    events = await _events_of(services, meeting["id"], 5)
    assert events[-1]["type"] == EVENT + "commitment.fulfilled"
    assert events[-1]["data"]["party"] == party


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["detail"]
    return problem


def _fields(problem: dict[str, Any]) -> list[str]:
    return [e["field"] for e in problem.get("errors", [])]


async def test_bad_meetings_are_refused_with_a_problem_naming_the_field(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    url = f"{services.url('meetings')}/meetings"
    good = meeting_body("CPR", "2020-09-15T09:00:00+07:00")

    async def refused(**changes: Any) -> dict[str, Any]:
        response = await http.post(url, json={**good, **changes}, headers=secretariat_headers)
        return _problem(response, 422)

    naive = await refused(starts_at="2020-09-15T09:00:00")
    assert _fields(naive) == ["body.starts_at"]
    assert "timezone" in naive["errors"][0]["message"]
    assert _fields(await refused(ends_at="2020-09-15T08:00:00+07:00")) == ["body.ends_at"]
    assert _fields(await refused(timezone="Asia/Atlantis")) == ["body.timezone"]
    outsider = await refused(
        co_chairs=[{"name": "A. Person", "title": "Minister", "delegation": "FRA"}]
    )
    assert _fields(outsider) == ["body.co_chairs.0.delegation"]
    assert "FRA is not a participant" in outsider["detail"]
    assert _fields(await refused(format="carrier pigeon")) == ["body.format"]
    assert _fields(await refused(colour="blue")) == ["body.colour"]


async def test_decisions_and_transitions_out_of_turn_are_refused(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base = services.url("meetings")
    meeting = await schedule(
        http, base, secretariat_headers, meeting_body("CPR", "2020-09-15T09:00:00+07:00")
    )
    statement = {"title": "Hello", "body": {"kind": "statement", "text": "Too early"}}
    decisions = f"{base}/meetings/{meeting['id']}/decisions"

    early = _problem(await http.post(decisions, json=statement, headers=secretariat_headers), 409)
    assert "this one is scheduled" in early["detail"]
    skipped = _problem(
        await http.post(f"{base}/meetings/{meeting['id']}/conclude", headers=secretariat_headers),
        409,
    )
    assert skipped["allowed"] == ["cancelled", "in_progress"]

    await act(http, base, secretariat_headers, meeting["id"], "start")
    not_under_review = {
        "title": "Review",
        "body": {
            "kind": "status_review",
            "plan_id": str(uuid.uuid4()),
            "lines": [{"code": "1.1", "status": "completed"}],
        },
    }
    wrong_plan = _problem(
        await http.post(decisions, json=not_under_review, headers=secretariat_headers), 422
    )
    assert _fields(wrong_plan) == ["body.body.plan_id"]
    unknown_kind = {"title": "X", "body": {"kind": "wish", "text": "more"}}
    _problem(await http.post(decisions, json=unknown_kind, headers=secretariat_headers), 422)
    to_nowhere = {
        "title": "Submit",
        "body": {
            "kind": "plan_submission",
            "plan_id": str(uuid.uuid4()),
            "submitted_to_meeting_id": str(uuid.uuid4()),
        },
    }
    nowhere = _problem(
        await http.post(decisions, json=to_nowhere, headers=secretariat_headers), 422
    )
    assert _fields(nowhere) == ["body.body.submitted_to_meeting_id"]
    postponed_late = await http.post(
        f"{base}/meetings/{meeting['id']}/postpone",
        json={"starts_at": "2020-10-01T09:00:00+07:00", "ends_at": "2020-10-01T10:00:00+07:00"},
        headers=secretariat_headers,
    )
    _problem(postponed_late, 409)

    await act(http, base, secretariat_headers, meeting["id"], "cancel", {"reason": "storm"})
    _problem(await http.post(decisions, json=statement, headers=secretariat_headers), 409)


async def test_unknown_ids_and_missing_rights_are_refused(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    viewer_headers: dict[str, str],
) -> None:
    base = services.url("meetings")
    body = meeting_body("CPR", "2020-09-15T09:00:00+07:00")
    _problem(await http.get(f"{base}/meetings/{uuid.uuid4()}", headers=viewer_headers), 404)
    _problem(await http.get(f"{base}/decisions/{uuid.uuid4()}", headers=viewer_headers), 404)
    _problem(await http.post(f"{base}/meetings", json=body), 401)
    _problem(await http.post(f"{base}/meetings", json=body, headers=viewer_headers), 403)
    delegation = {"Authorization": f"Bearer {token(Role.DELEGATION, 'VNM')}"}
    _problem(await http.post(f"{base}/meetings", json=body, headers=delegation), 403)
    assert (await http.get(f"{base}/meetings", headers=delegation)).status_code == 200
    bad_cursor = await http.get(f"{base}/meetings", params={"cursor": "nope"}, headers=delegation)
    assert _fields(_problem(bad_cursor, 422)) == ["query.cursor"]
    naive = await http.get(
        f"{base}/meetings", params={"starts_from": "2020-01-01T00:00:00"}, headers=delegation
    )
    assert _fields(_problem(naive, 422)) == ["query.starts_from"]

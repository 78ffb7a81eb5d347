"""The product brief's story, end to end: the demo played through the public APIs against
the suite's real stack, with the demo receiver verifying every webhook like a delegation's
own system would."""

import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from deploy.demo import cast, expected, story, summary
from deploy.demo import plan_2016_2020 as plan
from deploy.demo.client import Api, Target
from deploy.local.processes import ServiceProcess, free_port
from tests.support.stack import SIGNING_KEY, Services

pytestmark = pytest.mark.integration

# Per pillar: (completed, total, completed ahead of schedule), from the demo's data: lines are
# completed on their reported dates, before their targets except 9 of those due by 2019 or
# mid-2020.
PILLARS = {"1": (29, 30, 27), "2": (21, 22, 21), "3": (31, 33, 25), "4": (16, 18, 15)}


@pytest.fixture(scope="module")
def target(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The demo receiver as its own process, and where the demo finds everything."""
    state = tmp_path_factory.mktemp("demo")
    port = free_port()
    files = ["--secrets", str(state / "secrets.json"), "--log", str(state / "webhooks.jsonl")]
    receiver = ServiceProcess(
        "demo-receiver",
        state,
        [sys.executable, "-m", "deploy.demo.receiver", "--port", str(port), *files],
        {},
        health_url=f"http://127.0.0.1:{port}/healthz",
    )
    receiver.start()
    try:
        yield Target(
            plans=services.url("plans"),
            meetings=services.url("meetings"),
            notifications=services.url("notifications"),
            receiver=f"http://127.0.0.1:{port}",
            signer=SIGNING_KEY,
            state_dir=state,
        )
    finally:
        receiver.stop()


@pytest.fixture
async def api(target: Target) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(timeout=60) as http:
        yield Api(http, target)


async def _state(api: Api, ids: story.StoryIds) -> dict[str, Any]:
    """Everything a second run could have duplicated or changed."""
    t = api.target
    plans = {p["code"]: p for p in await api.all(f"{t.plans}/plans")}
    meetings = [await api.get(f"{t.meetings}/meetings/{m}") for m in (ids.cpr, ids.ministerial)]
    per_delegation = {}
    for code in cast.DELEGATIONS:
        headers = api.as_delegation(code)
        per_delegation[code] = (
            len(await api.all(f"{t.notifications}/subscriptions", headers=headers)),
            len(await api.all(f"{t.notifications}/endpoints", headers=headers)),
            len(await api.all(f"{t.notifications}/deliveries", headers=headers)),
        )
    return {
        "plans": {c: plans[c] for c in (plan.CODE, cast.PLAN_2021_CODE)},
        "lines": [
            len(await api.all(f"{t.plans}/plans/{p}/action-lines"))
            for p in (ids.plan_2016, ids.plan_2021)
        ],
        "meetings": meetings,
        "decisions": [
            len(await api.all(f"{t.meetings}/meetings/{m['id']}/decisions")) for m in meetings
        ],
        "delegations": per_delegation,
        "received": (await api.http.get(f"{t.receiver}/received")).json(),
    }


async def test_the_story_plays_through_the_apis_and_a_second_run_changes_nothing(
    api: Api,
) -> None:
    ids = await story.play(api, say=lambda _: None)
    t = api.target

    # 97 of 103 lines completed by the CPR-UN meeting, overall and per pillar.
    rollups = await api.get(f"{t.plans}/plans/{ids.plan_2016}/rollups")
    overall = rollups["plan"]["figures"]
    assert (overall["completed"], overall["total"], overall["completion_percent"]) == (
        97,
        103,
        94.2,
    )
    assert overall["by_status"]["ongoing"] == 6
    assert overall["completed_ahead_of_schedule"] == 88
    pillars = {s["code"]: s["figures"] for s in rollups["sections"] if s["depth"] == 1}
    assert {
        code: (f["completed"], f["total"], f["completed_ahead_of_schedule"])
        for code, f in pillars.items()
    } == PILLARS
    assert (await api.get(f"{t.plans}/plans/{ids.plan_2016}/rollups/check"))["consistent"]

    # History: the completions are dated across the plan's years, as the review reported them.
    rollups_url = f"{t.plans}/plans/{ids.plan_2016}/rollups"
    as_of = {
        day: (await api.get(rollups_url, params={"as_of": day}))["plan"]["figures"]["completed"]
        for day in ("2016-12-31", "2017-12-31", "2018-12-31", "2019-12-31", "2020-09-15")
    }
    assert as_of == {
        "2016-12-31": 4,
        "2017-12-31": 17,
        "2018-12-31": 38,
        "2019-12-31": 69,
        "2020-09-15": 97,
    }
    for meeting_id in (ids.cpr, ids.ministerial):
        meeting = await api.get(f"{t.meetings}/meetings/{meeting_id}")
        assert {p["attendance"] for p in meeting["participants"]} == {"present"}
        assert len(meeting["participants"]) == len(cast.DELEGATIONS)

    # The meeting's frozen briefing shows the same figures as the rollups.
    briefing = await api.get(f"{t.meetings}/meetings/{ids.cpr}/briefing")
    assert briefing["frozen"] is True and briefing["pending_reviews"] == 0
    (reviewed,) = briefing["plans"]
    assert reviewed["overall"] == {
        "total": 103,
        "by_status": {"completed": 97, "ongoing": 6},
        "completed": 97,
        "completion_rate": 94.2,
    }
    assert {
        p["pillar_id"]: (p["completed"], p["total"], p["completion_rate"])
        for p in reviewed["per_pillar"]
    } == {
        s["key"]: (
            s["figures"]["completed"],
            s["figures"]["total"],
            s["figures"]["completion_percent"],
        )
        for s in rollups["sections"]
        if s["depth"] == 1
    }

    # The meeting's statement draft: the snapshot's figures, each linked to the figure plans
    # published for the meeting (derived again, the same), and every claim in it right.
    draft = await api.get(f"{t.meetings}/meetings/{ids.cpr}/statement-drafts/statement")
    assert "97 of the 103 action lines (94.2 %) have been completed" in draft["rendered_text"]
    assert len(draft["figures"]) == 1 + len(PILLARS)
    assert all(f["matches_published"] for f in draft["figures"]), draft["figures"]
    first = await api.get(f"{t.plans}{draft['figures'][0]['provenance']}")
    assert (first["value"]["completed"], first["value"]["counted"]) == (97, 103)
    assert (first["as_of"], first["plan_code"]) == ("2020-09-15", plan.CODE)
    assert (await api.get(f"{t.plans}{first['links']['rederive']}"))["same"] is True
    checked = await api.post(f"{t.plans}/statements/check", {"text": draft["rendered_text"]})
    assert (checked["plan_code"], checked["as_of"]) == (plan.CODE, "2020-09-15"), checked
    assert [c["verdict"] for c in checked["claims"]] == ["ok"] * (1 + len(PILLARS)), checked
    assert all(c["checked_against_record"] for c in checked["claims"]), checked
    shown = summary.render(await summary.gather(api))
    assert "97 of the 103 action lines (94.2 %) have been completed" in shown
    assert f"-> plans {draft['figures'][0]['provenance']}" in shown

    # The successor is active with the six unfinished lines carried over; the old plan is
    # superseded.
    old = await api.get(f"{t.plans}/plans/{ids.plan_2016}")
    new = await api.get(f"{t.plans}/plans/{ids.plan_2021}")
    assert (old["status"], old["successor_id"]) == ("superseded", ids.plan_2021)
    assert (new["status"], new["predecessor_id"]) == ("active", ids.plan_2016)
    new_lines = await api.all(f"{t.plans}/plans/{ids.plan_2021}/action-lines")
    assert sorted(line["code"] for line in new_lines if line["carried_over_from"]) == sorted(
        plan.UNFINISHED
    )
    decisions = await api.all(f"{t.meetings}/meetings/{ids.ministerial}/decisions")
    assert [d["outcome"] for d in decisions if d["kind"] == "plan_approval"] == ["applied"]

    # Each delegation received exactly what its subscriptions match, once each, all signed.
    counts = (await api.http.get(f"{t.receiver}/counts")).json()
    received = (await api.http.get(f"{t.receiver}/received")).json()
    for code in cast.DELEGATIONS:
        keys = Counter(r["key"] for r in received if r["delegation"] == code)
        assert set(keys) == expected.expected_keys(code), code
        assert max(keys.values()) == 1, f"{code} was told twice: {keys.most_common(3)}"
        assert counts[code] == {"received": len(keys), "verified": len(keys)}, code
    assert set(counts) == set(cast.DELEGATIONS)

    # A second run finds everything there and changes nothing.
    before = await _state(api, ids)
    again = await story.play(api, say=lambda _: None)
    assert again == ids
    assert await _state(api, ids) == before

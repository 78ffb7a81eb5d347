"""The product brief's story, end to end: the demo played through the public APIs against
the suite's real stack, with the demo receiver verifying every webhook like a delegation's
own system would."""

import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.demo import cast, expected, story, summary
from deploy.demo import plan_2016_2020 as plan
from deploy.demo.client import Api, Target
from deploy.local.processes import ServiceProcess, free_port
from shared.auth import Role
from tests.support.chromium import Browser, Tab, chromium
from tests.support.mail import message, messages_to
from tests.support.stack import SIGNING_KEY, Services, token

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
            len(await api.all(f"{t.notifications}/contacts", headers=headers)),
            len(await api.all(f"{t.notifications}/emails", headers=headers)),
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
    api: Api, services: Services
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

    # Rotating roles: the ASEAN Chair year by year; each completion reached, in its inbox, the
    # Chair of the year it took effect (Thailand: those of 2019), and the CPR meeting's
    # notices its co-chairs (Viet Nam and the UN follow only the meetings' decisions).
    chair = f"{t.notifications}/roles/{cast.ASEAN_CHAIR}/holders"
    assert {
        year: (await api.get(chair, params={"on": f"{year}-06-30"}))["holders"]
        for year in cast.ASEAN_CHAIRS
    } == {year: [code] for year, code in cast.ASEAN_CHAIRS.items()}
    inbox = {
        code: await api.all(f"{t.notifications}/inbox", headers=api.as_delegation(code))
        for code in ("THA", "VNM", "UN", "MMR")
    }
    completed_2019 = {
        e["context"]["action_line"]["code"]
        for e in inbox["THA"]
        if e["event_type"].endswith("status_changed")
        and e["context"]["effective_date"].startswith("2019")
    }
    assert completed_2019 == {
        x.code for x in plan.LINES if x.completed_on is not None and x.completed_on.year == 2019
    }
    cpr_title = cast.CPR.title
    for code, told in (("VNM", True), ("UN", True), ("MMR", False)):
        titles = {e["title"] for e in inbox[code]}
        assert (f"Meeting concluded: {cpr_title}" in titles) is told, code
    # Each contact got by email exactly what its delegation's email follows tell and it wants,
    # once each (a Message-ID of its own each), in the suite's mail server.
    mailpit = services.infra.mailpit.url
    for code, contacts in cast.CONTACTS.items():
        for contact in contacts:
            got = await messages_to(api.http, mailpit, contact.address)
            wanted = expected.expected_email_keys(code, contact)
            assert len(got) == len(wanted), (contact.address, [m["Subject"] for m in got])
            assert len({m["MessageID"] for m in got}) == len(got), contact.address
    assert len(await messages_to(api.http, mailpit, "lan.nguyen@vnm.mission.example")) > 0
    # The UN's desk reads the humanitarian lines' changes in one daily digest by email, in
    # the UN's time zone, listing what was held when it went out.
    (un_desk,) = cast.CONTACTS["UN"]
    (digest,) = [
        m
        for m in await messages_to(api.http, mailpit, un_desk.address)
        if m["Subject"].startswith("Daily digest of ")
    ]
    text = (await message(api.http, mailpit, digest["ID"]))["Text"].replace("\r\n", "\n")
    assert f"{digest['Subject']} (times in America/New_York)\n" in text
    assert "update(s):\n- " in text
    assert "(America/New_York, UTC-0" in text
    print("the demo's daily digest (text part):\n" + text)

    # A second run finds everything there and changes nothing.
    before = await _state(api, ids)
    again = await story.play(api, say=lambda _: None)
    assert again == ids
    assert await _state(api, ids) == before


# --- the briefing pages, in a real browser -------------------------------------------------

# Every figure of a page and every bar of its pillar chart, as the DOM has them.
READ_PAGE = """(() => ({
  figures: [...document.querySelectorAll('[data-figure]')].map(e => ({
    plan: e.closest('[data-plan]')?.dataset.plan ?? null,
    scope: e.dataset.scope ?? null, name: e.dataset.figure, value: e.dataset.value,
    href: e.querySelector('a')?.href ?? null})),
  charts: Object.fromEntries([...document.querySelectorAll('[data-chart]')].map(c =>
    [c.dataset.chart, null])),
  bars: [...document.querySelectorAll('[data-chart=pillars] rect[data-bar]')].map(r => ({
    key: r.dataset.bar, value: parseFloat(r.dataset.value), drawn: r.getBBox().width})),
  last: document.querySelector('[data-chart=completion_over_time] polyline')?.dataset.lastValue,
}))()"""
# The pillar chart's 0-100 % axis, in SVG units (shared/pages/charts.py).
BAR_AXIS = 310


@pytest.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    async with chromium(tmp_path_factory.mktemp("chromium")) as started:
        yield started


def _figures(page: dict[str, Any], names: set[str]) -> dict[tuple[str | None, str], float]:
    return {
        (f["scope"], f["name"]): float(f["value"]) for f in page["figures"] if f["name"] in names
    }


# A figure's name on a page -> the published figure's value it shows.
PUBLISHED_AS = {"completed": "completed", "counted": "counted", "total": "counted"}
PUBLISHED_AS |= {"completion_percent": "completion_percent"}


async def _linked_figures(
    api: Api, page: dict[str, Any], token: str, as_of: str
) -> set[tuple[str | None, str]]:
    """Every linked figure's link, followed as the browser resolved it with the page's
    token: a figure published as of the page's day whose value is the one shown. The
    figures linked, by (scope, name)."""
    linked = set()
    for f in page["figures"]:
        if f["href"] is None:
            continue
        published = await api.get(f["href"], headers={"Authorization": f"Bearer {token}"})
        assert published["links"]["self"] in f["href"], f
        assert published["as_of"] == as_of, (f, published)
        assert published["value"][PUBLISHED_AS[f["name"]]] == float(f["value"]), (f, published)
        linked.add((f["scope"], f["name"]))
    return linked


def _bars_drawn_to_scale(page: dict[str, Any]) -> list[tuple[str, float]]:
    for bar in page["bars"]:
        assert abs(bar["drawn"] - BAR_AXIS * bar["value"] / 100) < 0.5, bar
    return [(bar["key"], bar["value"]) for bar in page["bars"]]


async def _screenshot(tab: Tab, name: str, tmp_path: Path) -> None:
    """The README's screenshots (written to docs/ when asked: a clean clone stays clean)."""
    png = await tab.screenshot()
    assert png.startswith(b"\x89PNG")
    shots = Path("docs/images") if os.environ.get("ACCORD_UPDATE_SCREENSHOTS") else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    (shots / name).write_bytes(png)


async def _signed_in(tab: Tab, url: str, token: str) -> None:
    """Open ``url``: the page sends the browser to sign in, and back once signed in."""
    await tab.navigate(url)
    assert await tab.evaluate("location.pathname") == "/pages/login"
    await tab.submit("form.login", {"token": token})
    assert await tab.evaluate("location.href") == url


async def test_the_cpr_un_briefing_page_in_chromium_shows_the_apis_figures(
    api: Api, browser: Browser, tmp_path: Path
) -> None:
    ids = await story.play(api, say=lambda _: None)
    t = api.target
    viet_nam = token(Role.DELEGATION, "VNM")
    as_viet_nam = {"Authorization": f"Bearer {viet_nam}"}
    briefing = await api.get(f"{t.meetings}/meetings/{ids.cpr}/briefing", headers=as_viet_nam)
    (reviewed,) = briefing["plans"]

    # The page the demo's summary (printed by `deploy/stack up`) points to.
    url = f"{t.meetings}/pages/meetings/{ids.cpr}"
    assert f"briefing page of the CPR-UN meeting: {url}\n" in summary.render(
        await summary.gather(api)
    )
    async with browser.tab() as tab:
        await _signed_in(tab, url, viet_nam)
        page = await tab.evaluate(READ_PAGE)
        assert tab.console_errors() == []

        # The figures in the DOM are the API's: overall, per pillar, and the change since the
        # previous meeting of the series.
        overall = reviewed["overall"]
        expected = {
            (ids.plan_2016, "completed"): overall["completed"],
            (ids.plan_2016, "total"): overall["total"],
            (ids.plan_2016, "completion_percent"): overall["completion_rate"],
            **{(p["pillar_id"], "completed"): p["completed"] for p in reviewed["per_pillar"]},
            **{(p["pillar_id"], "total"): p["total"] for p in reviewed["per_pillar"]},
            **{
                (p["pillar_id"], "completion_percent"): p["completion_rate"]
                for p in reviewed["per_pillar"]
            },
        }
        assert (overall["completed"], overall["total"]) == (97, 103)
        assert _figures(page, {"completed", "total", "completion_percent"}) == expected
        # Each of them links to the figure plans published for the meeting as of its date,
        # whose value is the one shown (on plans, as the browser reaches it).
        assert all(
            f["href"].startswith(f"{t.plans}/figures/") for f in page["figures"] if f["href"]
        )
        assert await _linked_figures(api, page, viet_nam, briefing["as_of"]) == set(expected)
        # The pillar chart: one bar per pillar, in the API's order, each its completion rate
        # and drawn to scale; the completion curve ends at the meeting's 97.
        assert _bars_drawn_to_scale(page) == [
            (p["pillar_id"], p["completion_rate"]) for p in reviewed["per_pillar"]
        ]
        assert len(page["bars"]) == 4
        assert page["last"] == "97"

        # Printing: the print stylesheet hides the controls, and the page prints to a PDF.
        await tab.send("Emulation.setEmulatedMedia", {"media": "print"})
        hidden = "getComputedStyle(document.querySelector('.signout')).display"
        assert await tab.evaluate(hidden) == "none"
        pdf = await tab.pdf()
        assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-1024:]
        await tab.send("Emulation.setEmulatedMedia", {"media": ""})

        await _screenshot(tab, "cpr-un-briefing.png", tmp_path)
        assert tab.console_errors() == []


async def test_the_plan_page_in_chromium_shows_the_rollups_now_and_as_of_a_day(
    api: Api, browser: Browser, tmp_path: Path
) -> None:
    ids = await story.play(api, say=lambda _: None)
    t = api.target
    viewer = token(Role.VIEWER)
    names = {"completed", "counted", "completion_percent", "completed_ahead_of_schedule"}
    names |= {"overdue"}
    async with browser.tab() as tab:
        for as_of in (None, "2019-12-31"):
            params = {"as_of": as_of} if as_of else {}
            rollups = await api.get(f"{t.plans}/plans/{ids.plan_2016}/rollups", params=params)
            url = f"{t.plans}/pages/plans/{ids.plan_2016}" + (f"?as_of={as_of}" if as_of else "")
            if as_of is None:
                await _signed_in(tab, url, viewer)
            else:
                await tab.navigate(url)
            page = await tab.evaluate(READ_PAGE)
            assert tab.console_errors() == []
            pillars = [s for s in rollups["sections"] if s["depth"] == 1]
            scopes = [(None, rollups["plan"]), *((s["key"], s) for s in pillars)]
            scopes += [(s["key"], s) for s in rollups["tags"]]
            expected = {
                (key, name): scope["figures"][name] for key, scope in scopes for name in names
            }
            assert _figures(page, names) == expected, as_of
            # The headline figures (overall, per pillar, per area) are published as of the
            # page's day and link there; the others (ahead, overdue, health) are not published.
            day = as_of or await tab.evaluate("document.querySelector('[data-as-of]').dataset.asOf")
            headline = {"completed", "counted", "completion_percent"}
            linked = {(key, name) for key, _ in scopes for name in headline}
            assert await _linked_figures(api, page, viewer, day) == linked, as_of
            health = {(f["scope"], f["value"]) for f in page["figures"] if f["name"] == "health"}
            assert health == {(key, scope["figures"]["health"]) for key, scope in scopes}
            assert _bars_drawn_to_scale(page) == [
                (s["key"], s["figures"]["completion_percent"]) for s in pillars
            ]
            assert len(page["bars"]) == 4
            # The curve from the journal ends where the rollups are (count rule: lines).
            assert page["last"] == str(int(rollups["plan"]["figures"]["completed"]))
        assert page["last"] == "69"
        await _screenshot(tab, "plan-progress-2019.png", tmp_path)

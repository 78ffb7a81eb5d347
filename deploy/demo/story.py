"""The story of the product brief, played through the public HTTP APIs like a client app.

Every step first looks at what is there and only does what is missing, so playing the story
again (or after an interruption) duplicates nothing: the plans are found by code, meetings
by series and title, decisions by title, subscriptions and endpoints by what they name.
Every effect that travels through Kafka is waited for, within a bound.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from deploy.demo import cast, expected
from deploy.demo import plan_2016_2020 as plan
from deploy.demo.client import Api, DemoError, wait_for
from deploy.demo.progress import Progress

Say = Callable[[str], None]
PLAN_DECISIONS = ("status_review", "plan_submission", "plan_approval")
# Plan lifecycle: the call that moves a plan on from each state, with its body.
NEXT_STEP: dict[str, tuple[str, dict[str, Any] | None]] = {
    "draft": ("submit", {}),
    "submitted": ("approve", {"carry_over_unfinished": False}),
    "approved": ("activate", None),
}


@dataclass(frozen=True)
class StoryIds:
    plan_2016: str
    plan_2021: str
    cpr: str
    ministerial: str


async def play(api: Api, say: Say = print) -> StoryIds:
    old = await _plan_2016(api, say)
    await _delegations(api, old, say, series=False)
    new = await _plan(api, cast.PLAN_2021_CODE, lambda: cast.plan_2021_document(old["id"]), say)
    ministerial = await _meeting(api, cast.MINISTERIAL_MEETING, [new["id"]], say)
    cpr = await _meeting(api, cast.CPR, [old["id"]], say)
    # A meeting series can be followed once a meeting of it is scheduled.
    await _delegations(api, old, say, series=True)
    await _roles(api, old["id"], say)
    ids = StoryIds(old["id"], new["id"], cpr["id"], ministerial["id"])
    await _hold(api, cast.CPR, cpr, ids, say)
    await _hold(api, cast.MINISTERIAL_MEETING, ministerial, ids, say)
    await _settled(api, ids, say)
    await statement_draft(api, ids.cpr, say)
    return ids


async def find_plan(api: Api, code: str) -> dict[str, Any] | None:
    for item in await api.all(f"{api.target.plans}/plans"):
        if item["code"] == code:
            return item
    return None


async def find_meeting(api: Api, spec: cast.MeetingSpec) -> dict[str, Any] | None:
    url = f"{api.target.meetings}/meetings"
    for item in await api.all(url, params={"series": spec.series}):
        if item["title"] == spec.title:
            return item
    return None


async def _plan(
    api: Api, code: str, document: Callable[[], dict[str, Any]], say: Say
) -> dict[str, Any]:
    found = await find_plan(api, code)
    if found is not None:
        return found
    imported = await api.post(f"{api.target.plans}/plans/import", document(), expect=201)
    say(f"imported {code}: {imported['action_lines_imported']} action lines")
    created: dict[str, Any] = imported["plan"]
    return created


async def _plan_2016(api: Api, say: Say) -> dict[str, Any]:
    """The plan of 2016-2020, loaded and activated (as it was in 2016)."""
    found = await _plan(api, plan.CODE, plan.import_document, say)
    while found["status"] in NEXT_STEP:
        action, body = NEXT_STEP[found["status"]]
        found = await api.post(f"{api.target.plans}/plans/{found['id']}/{action}", body)
    return found


# --- delegations -----------------------------------------------------------------------------


async def _delegations(api: Api, old: dict[str, Any], say: Say, *, series: bool) -> None:
    """Register the delegations and their endpoints, and their follows: those of meeting
    series (``series``) or the others."""
    notifications = api.target.notifications
    registered = {d["code"] for d in await api.get(f"{notifications}/delegations")}
    sections = {
        s["code"]: s["id"] for s in await api.get(f"{api.target.plans}/plans/{old['id']}/sections")
    }
    progress = Progress("delegations, endpoints, contacts, subscriptions", len(cast.DELEGATIONS))
    waited = False
    for code, (name, zone) in cast.DELEGATIONS.items():
        if code not in registered:
            body = {"code": code, "name": name, "timezone": zone}
            await api.post(f"{notifications}/delegations", body, expect=201)
        if code in cast.DIGEST_HOURS:
            await api.call(
                "PATCH",
                f"{notifications}/delegations/{code}",
                json={"digest_hour": cast.DIGEST_HOURS[code]},
                headers=api.as_delegation(code),
            )
        await _endpoint(api, code)
        await _contacts(api, code)
        missing = [
            body
            for body in await _missing_follows(api, code, old["id"], sections)
            if (body["target_kind"] == "meeting_series") == series
        ]
        if missing and not waited:
            # The plan's own earlier events (its creation, activation) must not reach the
            # new subscribers: wait until notifications has taken them in.
            await _seen_by_notifications(api, old["id"], "org.accord.plans.plan.activated")
            waited = True
        for body in missing:
            await api.create_once_known(
                f"{notifications}/subscriptions",
                body,
                field="body.target_key",
                what=f"notifications to know {body['target_kind']} {body['target_key']}",
                headers=api.as_delegation(code),
            )
        progress.advance()
    progress.finish()


async def _endpoint(api: Api, code: str) -> None:
    """The delegation's webhook endpoint at the demo receiver, whose secret the receiver
    knows; a secret the demo no longer has is rotated to learn a new one."""
    base, headers = api.target.notifications, api.as_delegation(code)
    url = api.target.webhook_url(code)
    endpoints = await api.all(f"{base}/endpoints", headers=headers)
    mine = next((e for e in endpoints if e["url"] == url), None)
    if mine is None:
        body = {"url": url, "description": f"{code}'s system (demo receiver)"}
        created = await api.post(f"{base}/endpoints", body, expect=201, headers=headers)
        api.target.remember_secret(code, created["secret"])
    elif code not in api.target.known_secrets():
        rotated = await api.post(f"{base}/endpoints/{mine['id']}/rotate-secret", headers=headers)
        api.target.remember_secret(code, rotated["secret"])


async def _contacts(api: Api, code: str) -> None:
    """The delegation's contacts (``cast.CONTACTS``), by address."""
    url, headers = f"{api.target.notifications}/contacts", api.as_delegation(code)
    have = {c["address"] for c in await api.all(url, headers=headers)}
    for contact in cast.CONTACTS.get(code, ()):
        if contact.address not in have:
            body = {
                "name": contact.name,
                "address": contact.address,
                "role": contact.role,
                "language": contact.language,
                "event_types": list(contact.event_types),
            }
            await api.post(url, body, expect=201, headers=headers)


async def _missing_follows(
    api: Api, code: str, plan_id: str, sections: dict[str, str]
) -> list[dict[str, Any]]:
    def shape(kind: str, key: str, types: Any, statuses: Any, cadence: str) -> tuple[Any, ...]:
        return kind, key, tuple(sorted(types)), tuple(sorted(statuses)), cadence

    url, headers = f"{api.target.notifications}/subscriptions", api.as_delegation(code)
    have = {
        shape(s["target_kind"], s["target_key"], s["event_types"], s["statuses"], s["cadence"])
        for s in await api.all(url, headers=headers)
    }
    wanted = []
    for follow in cast.follows_of(code):
        key = {"plan": plan_id, "section": sections.get(follow.key)}.get(follow.kind, follow.key)
        if key is None:
            raise DemoError(f"the plan has no section {follow.key!r}")
        if shape(follow.kind, key, follow.event_types, follow.statuses, follow.cadence) not in have:
            wanted.append(
                {
                    "target_kind": follow.kind,
                    "target_key": key,
                    "event_types": list(follow.event_types),
                    "statuses": list(follow.statuses),
                    "cadence": follow.cadence,
                    **({"channels": list(follow.channels)} if follow.channels else {}),
                }
            )
    return wanted


async def _seen_by_notifications(api: Api, plan_id: str, event_type: str) -> None:
    url = f"{api.target.notifications}/activity"

    async def seen() -> bool:
        async for item in api.pages(url, params={"plan_id": plan_id}):
            if item["event_type"] == event_type:
                return True
        return False

    await wait_for(seen, f"notifications to take in {event_type}")


# --- rotating roles ----------------------------------------------------------------------------


async def _roles(api: Api, plan_id: str, say: Say) -> None:
    """The ASEAN Chair year by year, and the subscriptions addressed to roles."""
    base = api.target.notifications
    chair = f"{base}/roles/{cast.ASEAN_CHAIR}/holders"
    response = await api.http.get(chair, params={"on": "2016-07-01"}, headers=api.secretariat)
    if response.status_code == 404:
        body = {
            "name": cast.ASEAN_CHAIR,
            "single_holder": True,
            "description": "The member state chairing ASEAN that year",
        }
        await api.post(f"{base}/roles", body, expect=201)
    recorded = 0
    for year, code in cast.ASEAN_CHAIRS.items():
        holders = await api.get(chair, params={"on": f"{year}-07-01"})
        if not holders["holders"]:
            body = {
                "role": cast.ASEAN_CHAIR,
                "delegation": code,
                "valid_from": f"{year}-01-01",
                "valid_to": f"{year}-12-31",
            }
            await api.post(f"{base}/role-assignments", body, expect=201)
            recorded += 1
    if recorded:
        say(f"recorded the ASEAN Chair for {recorded} years")
    have = {
        (s["role"], s["target_kind"], s["target_key"])
        for s in await api.all(f"{base}/subscriptions")
        if s["role"] is not None
    }
    for role, follow in cast.ROLE_FOLLOWS:
        key = plan_id if follow.kind == "plan" else follow.key
        if (role, follow.kind, key) in have:
            continue
        body = {
            "role": role,
            "target_kind": follow.kind,
            "target_key": key,
            "event_types": list(follow.event_types),
            "statuses": list(follow.statuses),
            "channels": ["inbox"],
        }
        await api.create_once_known(
            f"{base}/subscriptions",
            body,
            field="body.target_key",
            what=f"notifications to know {follow.kind} {key}",
        )


# --- meetings --------------------------------------------------------------------------------


async def _meeting(
    api: Api, spec: cast.MeetingSpec, plans_under_review: list[str], say: Say
) -> dict[str, Any]:
    found = await find_meeting(api, spec)
    if found is not None:
        return found
    body = spec.create_body(plans_under_review)
    created: dict[str, Any] = await api.create_once_known(
        f"{api.target.meetings}/meetings",
        body,
        field="body.participants",
        what="meetings to know the participating delegations",
    )
    say(f"scheduled: {spec.title} ({spec.starts_at[:10]})")
    return created


def _resolved(body: dict[str, Any], ids: StoryIds) -> dict[str, Any]:
    text = json.dumps(body)
    for placeholder, value in (
        (cast.PLAN_2016, ids.plan_2016),
        (cast.PLAN_2021, ids.plan_2021),
        (cast.MINISTERIAL, ids.ministerial),
    ):
        text = text.replace(json.dumps(placeholder), json.dumps(value))
    resolved: dict[str, Any] = json.loads(text)
    return resolved


async def _hold(
    api: Api, spec: cast.MeetingSpec, meeting: dict[str, Any], ids: StoryIds, say: Say
) -> None:
    """Start the meeting, adopt its decisions, wait for plans to apply them, conclude."""
    url = f"{api.target.meetings}/meetings/{meeting['id']}"
    if meeting["status"] == "scheduled":
        meeting = await api.post(f"{url}/start")
    if meeting["status"] != "in_progress":
        return
    adopted = {d["title"] for d in await api.all(f"{url}/decisions")}
    agenda = {item["title"]: item["id"] for item in meeting["agenda"]}
    for decision in spec.decisions:
        if decision.title in adopted:
            continue
        body: dict[str, Any] = {"title": decision.title, "body": _resolved(decision.body, ids)}
        if decision.agenda is not None:
            body["agenda_item_id"] = agenda[spec.agenda[decision.agenda - 1]]
        await api.post(f"{url}/decisions", body, expect=201)
    if any(d.body["kind"] == "status_review" for d in spec.decisions):
        await _review_applied(api, ids.plan_2016)
    await wait_for(lambda: _decisions_applied(api, url), f"plans to apply {spec.title}'s decisions")
    await api.post(f"{url}/conclude", {"attendance": spec.attendance()})
    say(f"held: {spec.title} ({len(spec.decisions)} decisions)")


async def _review_applied(api: Api, plan_id: str) -> None:
    progress = Progress("review reported in plans' rollups", len(plan.LINES))
    url = f"{api.target.plans}/plans/{plan_id}/rollups"

    async def addressed() -> bool:
        figures = (await api.get(url))["plan"]["figures"]
        progress.update(int(figures["addressed"]))
        return bool(figures["addressed"] == len(plan.LINES))

    await wait_for(addressed, "the review to reach the rollups", timeout=90)
    progress.finish()


async def _decisions_applied(api: Api, meeting_url: str) -> bool:
    decisions = await api.all(f"{meeting_url}/decisions")
    for decision in decisions:
        if decision["body"]["kind"] not in PLAN_DECISIONS or decision["outcome"] == "applied":
            continue
        if decision["outcome"] != "pending":
            reason = decision.get("rejection_reason") or decision.get("rejected_lines")
            raise DemoError(f"plans did not apply {decision['title']!r}: {reason}")
        return False
    return True


# --- the end ---------------------------------------------------------------------------------


async def _settled(api: Api, ids: StoryIds, say: Say) -> None:
    """Wait for the last event-driven effects: the frozen briefing and every webhook."""

    async def frozen() -> bool:
        briefing = await api.get(f"{api.target.meetings}/meetings/{ids.cpr}/briefing")
        return bool(briefing["frozen"])

    await wait_for(frozen, "the CPR meeting's briefing to be frozen")
    wanted = expected.expected_counts()
    progress = Progress("webhooks received by the delegations", sum(wanted.values()))

    async def delivered() -> bool:
        counts = await receiver_counts(api)
        progress.update(sum(min(counts.get(c, 0), n) for c, n in wanted.items()))
        if any(counts.get(c, 0) < n for c, n in wanted.items()):
            return False
        # Nothing still on its way that could come on top (only the demo's delegations:
        # others' disabled endpoints may hold deliveries back for good).
        logs = ("deliveries", "emails") if api.target.email else ("deliveries",)
        for code in wanted:
            params = {"status": "pending", "limit": 1, "delegation": code}
            for log in logs:
                pending = await api.get(f"{api.target.notifications}/{log}", params=params)
                if pending["items"]:
                    return False
        return True

    await wait_for(delivered, "the webhooks and emails to go out", timeout=120)
    progress.finish()
    if not api.target.email:
        return

    async def digested() -> bool:
        """Each daily digest by email made (its emails then go out like any other)."""
        for code in (c for c in cast.DELEGATIONS if cast.digest_follows(c)):
            params = {"delegation": code, "limit": 200}
            emails = await api.get(f"{api.target.notifications}/emails", params=params)
            if not any(e["email_subject"].startswith("Daily digest") for e in emails["items"]):
                return False
        return True

    # The digest job's round comes every NOTIFICATIONS_DIGEST_INTERVAL (a minute by default).
    await wait_for(digested, "the daily digest to go out", timeout=180)
    await wait_for(delivered, "the digest's emails to go out", timeout=120)


async def statement_draft(api: Api, meeting_id: str, say: Say = print) -> dict[str, Any]:
    """The meeting's statement draft, made once plans has published the figures of its
    frozen snapshot (so that each figure in it links to its provenance)."""
    url = f"{api.target.meetings}/meetings/{meeting_id}"

    async def published() -> bool:
        briefing = await api.get(f"{url}/briefing")
        wanted = sum(1 + len([p for p in plan["per_pillar"] if p["pillar_id"]])
                     for plan in briefing["plans"])  # fmt: skip
        return len(briefing["published_figures"]) >= wanted

    await wait_for(published, "plans to publish the meeting's figures")
    draft: dict[str, Any] = await api.post(
        f"{url}/statement-drafts", {"kind": "statement"}, expect=(200, 201)
    )
    linked = sum(1 for f in draft["figures"] if f["matches_published"])
    say(f"statement drafted: {linked} of its {len(draft['figures'])} figures linked")
    return draft


async def receiver_counts(api: Api) -> dict[str, int]:
    """Verified, distinct webhooks per delegation, as the demo receiver counted them."""
    try:
        response = await api.http.get(f"{api.target.receiver}/counts")
    except httpx.HTTPError as exc:
        raise DemoError(f"the demo receiver at {api.target.receiver} does not answer") from exc
    return {code: c.get("verified", 0) for code, c in response.json().items()}

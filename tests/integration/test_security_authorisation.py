"""The authorisation matrix: every route of every service, read from its OpenAPI document,
called by every kind of caller, each cell's status checked against the design.

Callers (columns): no token, an expired token, a token signed with another secret, a viewer,
delegation A (which owns the notifications objects used here), delegation B, the secretariat.

Design (the rows of ``RULES``):
- no / expired / badly signed token: 401 on every protected route (everything but health);
- plans and meetings: anyone with a valid token reads; only the secretariat writes (403);
- notifications: a delegation reaches only its own subscriptions, endpoints, deliveries,
  contacts, emails and inbox; another delegation's ids answer 404, like unknown ids; a delegation creating for
  another is refused (403); viewers have no inbox, endpoints or subscriptions (403) and the
  activity feed is for the secretariat and viewers only (403 for delegations);
- an allowed cell is a 2xx: every call sends a valid request for an object in a state that
  allows it (lifecycle routes get objects of their own), so nothing but authorisation decides.
Besides the status, delegation B's responses must never contain any of A's object ids or
A's webhook secret.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from shared.signing_keys import SigningKey
from shared.tokens import Role, issue_token
from tests.support.api import add_action_line, add_section, create_plan
from tests.support.meetings import act, decide, meeting_body, schedule
from tests.support.notifications import headers_of, listed, new_delegation, subscribe
from tests.support.receiver import Receiver
from tests.support.stack import SIGNING_KEY, Services, token
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

PRINCIPALS = ("none", "expired", "bad_signature", "viewer", "delegation_a", "delegation_b",
              "secretariat")  # fmt: skip

# What each caller gets. "ok": allowed, a 2xx; a number: exactly that status. Unauthenticated callers get 401 everywhere
# protected, so the rules only spell out the authenticated columns.
OK = "ok"


@dataclass(frozen=True)
class Rule:
    viewer: str | int
    delegation_a: str | int
    delegation_b: str | int
    secretariat: str | int
    protected: bool = True

    def expected(self, principal: str) -> str | int:
        if principal in ("none", "expired", "bad_signature"):
            return 401 if self.protected else OK
        value: str | int = getattr(self, principal)
        return value


RULES = {
    #                      viewer  deleg. A  deleg. B  secretariat
    "open": Rule(OK, OK, OK, OK, protected=False),  # health probes
    "read": Rule(OK, OK, OK, OK),  # plans, meetings, the delegation directory
    "write": Rule(403, 403, 403, OK),  # secretariat only
    "a_owned": Rule(403, OK, 404, OK),  # one of A's objects, by id
    "for_a": Rule(403, OK, 403, OK),  # create an object naming A as its owner
    "own_list": Rule(403, OK, OK, OK),  # a delegation's own list (B sees only B's)
    "feed": Rule(OK, 403, 403, OK),  # secretariat and viewers only
    # Secretariat only, and the matrix's meeting has no frozen snapshot yet: the secretariat's
    # call reaches the handler, which refuses a draft (409) or finds none (404).
    "draft_not_yet": Rule(403, 403, 403, 409),
    "no_draft_yet": Rule(403, 403, 403, 404),
}

# Every route of the three services: its rule and what to send. ``{a}`` in a path, query or
# body is delegation A's code; ``{name}`` path parameters are filled from the setup's ids.
A_OWNED_BODY = {"delegation": "{a}"}
ROUTES: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {
    # plans
    ("plans", "GET", "/healthz"): ("open", {}),
    ("plans", "GET", "/readyz"): ("open", {}),
    ("plans", "GET", "/asyncapi.json"): ("open", {}),
    ("plans", "POST", "/plans"): ("write", {"json": "new_plan"}),
    ("plans", "GET", "/plans"): ("read", {}),
    ("plans", "GET", "/plans/{plan_id}"): ("read", {}),
    ("plans", "GET", "/plans/by-code/{plan_code}"): ("read", {}),
    ("plans", "POST", "/plans/{plan_id}/submit"): ("write", {"json": {}, "plan": "lifecycle"}),
    ("plans", "POST", "/plans/{plan_id}/approve"): ("write", {"json": {}, "plan": "lifecycle"}),
    ("plans", "POST", "/plans/{plan_id}/activate"): ("write", {"plan": "lifecycle"}),
    ("plans", "POST", "/plans/{plan_id}/complete"): ("write", {"plan": "lifecycle"}),
    ("plans", "GET", "/plans/{plan_id}/sections"): ("read", {}),
    ("plans", "POST", "/plans/{plan_id}/sections"): ("write", {"json": "new_section"}),
    ("plans", "GET", "/plans/{plan_id}/action-lines"): ("read", {}),
    ("plans", "POST", "/plans/{plan_id}/action-lines"): ("write", {"json": "new_line"}),
    ("plans", "GET", "/action-lines/{line_id}"): ("read", {}),
    ("plans", "PATCH", "/action-lines/{line_id}"): ("write", {"json": "line_update"}),
    ("plans", "PATCH", "/action-lines/{line_id}/status"): ("write", {"json": "line_status"}),
    ("plans", "GET", "/action-lines/{line_id}/history"): ("read", {}),
    ("plans", "POST", "/action-lines/{line_id}/history/{entry_id}/corrections"): (
        "write",
        {"json": "history_correction", "entry": "journal"},
    ),
    ("plans", "GET", "/plans/{plan_id}/history"): ("read", {}),
    ("plans", "GET", "/plans/{plan_id}/rollups"): ("read", {}),
    ("plans", "GET", "/plans/{plan_id}/rollups/check"): ("read", {}),
    ("plans", "GET", "/rollups/check"): ("read", {}),
    ("plans", "GET", "/counting-rules"): ("read", {}),
    ("plans", "POST", "/counting-rules"): ("write", {"json": {"name": "Matrix rule"}}),
    ("plans", "POST", "/plans/import"): ("write", {"json": "plan_document"}),
    ("plans", "POST", "/plans/{plan_id}/action-lines/import"): ("write", {"csv": True}),
    ("plans", "GET", "/plans/{plan_id}/export"): ("read", {}),
    ("plans", "GET", "/plans/{plan_id}/action-lines.csv"): ("read", {}),
    ("plans", "POST", "/figures"): ("read", {"json": "new_figure"}),
    ("plans", "GET", "/figures/{figure_id}"): ("read", {}),
    ("plans", "GET", "/figures/{figure_id}/rederivation"): ("read", {}),
    ("plans", "POST", "/statements/check"): (
        "read",
        {"json": {"text": "97 of the 103 action lines (94.2 %) have been completed."}},
    ),
    # meetings
    ("meetings", "GET", "/healthz"): ("open", {}),
    ("meetings", "GET", "/readyz"): ("open", {}),
    ("meetings", "GET", "/asyncapi.json"): ("open", {}),
    ("meetings", "POST", "/meetings"): ("write", {"json": "new_meeting"}),
    ("meetings", "GET", "/meetings"): ("read", {}),
    ("meetings", "GET", "/meetings/upcoming"): ("read", {}),
    ("meetings", "GET", "/meetings/{meeting_id}"): ("read", {}),
    ("meetings", "POST", "/meetings/{meeting_id}/postpone"): (
        "write",
        {"json": "postpone", "meeting": "lifecycle"},
    ),
    ("meetings", "POST", "/meetings/{meeting_id}/start"): ("write", {"meeting": "lifecycle"}),
    ("meetings", "POST", "/meetings/{meeting_id}/conclude"): ("write", {"meeting": "lifecycle"}),
    ("meetings", "POST", "/meetings/{meeting_id}/cancel"): ("write", {"meeting": "cancelled"}),
    ("meetings", "PUT", "/meetings/{meeting_id}/participants/{delegation}"): (
        "write",
        {"json": {"attendance": "present"}},
    ),
    ("meetings", "POST", "/meetings/{meeting_id}/agenda-items"): (
        "write",
        {"json": {"title": "Any other business"}},
    ),
    ("meetings", "POST", "/meetings/{meeting_id}/decisions"): ("write", {"json": "statement"}),
    ("meetings", "POST", "/meetings/{meeting_id}/statement-drafts"): (
        "draft_not_yet",
        {"json": {"kind": "statement"}},
    ),
    ("meetings", "GET", "/meetings/{meeting_id}/statement-drafts/{kind}"): ("no_draft_yet", {}),
    ("meetings", "PUT", "/meetings/{meeting_id}/statement-drafts/{kind}"): (
        "no_draft_yet",
        {"json": {"text": "Agreed: [[F1]]."}},
    ),
    ("meetings", "GET", "/meetings/{meeting_id}/decisions"): ("read", {}),
    ("meetings", "GET", "/decisions/{decision_id}"): ("read", {}),
    ("meetings", "GET", "/commitments"): ("read", {}),
    ("meetings", "POST", "/commitments/{decision_id}/fulfil"): (
        "write",
        {"json": {"fulfilled_on": "2021-03-01"}},
    ),
    ("meetings", "GET", "/meetings/{meeting_id}/briefing"): ("read", {}),
    # notifications
    ("notifications", "GET", "/healthz"): ("open", {}),
    ("notifications", "GET", "/readyz"): ("open", {}),
    ("notifications", "GET", "/asyncapi.json"): ("open", {}),
    ("notifications", "GET", "/delegations"): ("read", {}),
    ("notifications", "POST", "/delegations"): ("write", {"json": "new_delegation"}),
    ("notifications", "GET", "/delegations/{code}"): ("read", {}),
    ("notifications", "PATCH", "/delegations/{code}"): (
        "for_a",
        {"json": {"contact": "desk@example.org"}},
    ),
    ("notifications", "POST", "/groupings/{grouping}/members"): (
        "write",
        {"json": {"delegation": "{a}", "valid_from": "2020-01-01"}},
    ),
    ("notifications", "GET", "/groupings/{grouping}/members"): (
        "read",
        {"params": {"on": "2020-09-15"}},
    ),
    ("notifications", "POST", "/roles"): ("write", {"json": "new_role"}),
    ("notifications", "POST", "/role-assignments"): ("write", {"json": "new_assignment"}),
    ("notifications", "GET", "/roles/{role}/holders"): ("read", {"params": {"on": "2020-09-15"}}),
    ("notifications", "POST", "/subscriptions"): ("for_a", {"json": "subscription_for_a"}),
    ("notifications", "GET", "/subscriptions"): ("own_list", {"params": {"delegation": "{a}"}}),
    ("notifications", "GET", "/subscriptions/{subscription_id}"): ("a_owned", {}),
    ("notifications", "DELETE", "/subscriptions/{subscription_id}"): (
        "a_owned",
        {"fresh": "subscription"},
    ),
    ("notifications", "GET", "/activity"): ("feed", {}),
    ("notifications", "POST", "/endpoints"): ("for_a", {"json": "endpoint_for_a"}),
    ("notifications", "GET", "/endpoints"): ("own_list", {"params": {"delegation": "{a}"}}),
    ("notifications", "GET", "/endpoints/{endpoint_id}"): ("a_owned", {}),
    ("notifications", "PATCH", "/endpoints/{endpoint_id}"): (
        "a_owned",
        {"json": {"description": "Changed by the matrix"}},
    ),
    ("notifications", "DELETE", "/endpoints/{endpoint_id}"): ("a_owned", {"fresh": "endpoint"}),
    ("notifications", "POST", "/endpoints/{endpoint_id}/rotate-secret"): ("a_owned", {}),
    ("notifications", "POST", "/endpoints/{endpoint_id}/recover"): (
        "a_owned",
        {"json": {"since": "2020-01-01T00:00:00Z"}},
    ),
    ("notifications", "POST", "/endpoints/{endpoint_id}/retry-now"): ("a_owned", {}),
    ("notifications", "GET", "/deliveries"): ("own_list", {"params": {"delegation": "{a}"}}),
    ("notifications", "GET", "/deliveries/{delivery_id}"): ("a_owned", {}),
    ("notifications", "POST", "/deliveries/{delivery_id}/redeliver"): ("a_owned", {}),
    ("notifications", "GET", "/inbox"): ("own_list", {"params": {"delegation": "{a}"}}),
    ("notifications", "GET", "/inbox/unread-count"): (
        "own_list",
        {"params": {"delegation": "{a}"}},
    ),
    ("notifications", "POST", "/inbox/read-all"): ("own_list", {"params": {"delegation": "{a}"}}),
    ("notifications", "POST", "/inbox/{entry_id}/read"): ("a_owned", {}),
    ("notifications", "GET", "/stream"): ("own_list", {"params": {"delegation": "{a}"}}),
    ("notifications", "POST", "/contacts"): ("for_a", {"json": "contact_for_a"}),
    ("notifications", "GET", "/contacts"): ("own_list", {"params": {"delegation": "{a}"}}),
    ("notifications", "GET", "/contacts/{contact_id}"): ("a_owned", {}),
    ("notifications", "PATCH", "/contacts/{contact_id}"): (
        "a_owned",
        {"json": {"name": "Changed by the matrix"}},
    ),
    ("notifications", "DELETE", "/contacts/{contact_id}"): ("a_owned", {"fresh": "contact"}),
    ("notifications", "GET", "/emails"): ("own_list", {"params": {"delegation": "{a}"}}),
}


@dataclass
class World:
    """The objects the matrix calls routes on, created through the public APIs."""

    services: Services
    http: httpx.AsyncClient
    secretariat: dict[str, str]
    receiver: Receiver
    a: str = ""
    b: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    secrets_of_a: list[str] = field(default_factory=list)
    private_of_a: set[str] = field(default_factory=set)

    def url(self, service: str) -> str:
        return self.services.url(service)

    async def new_subscription_of_a(self) -> str:
        created = await subscribe(
            self.http, self.url("notifications"), self.a, "tag", f"matrix-{uuid.uuid4().hex[:6]}"
        )
        self.private_of_a.add(created["id"])
        return str(created["id"])

    async def new_contact_of_a(self) -> str:
        response = await self.http.post(
            f"{self.url('notifications')}/contacts",
            json={
                "name": "Matrix",
                "address": f"{uuid.uuid4().hex}@example.org",
                "role": "technical",
            },
            headers=headers_of(self.a),
        )
        assert response.status_code == 201, response.text
        self.private_of_a.add(response.json()["id"])
        return str(response.json()["id"])

    async def new_endpoint_of_a(self) -> str:
        path = f"/a/{uuid.uuid4().hex}"
        response = await self.http.post(
            f"{self.url('notifications')}/endpoints",
            json={"url": self.receiver.url(path)},
            headers=headers_of(self.a),
        )
        assert response.status_code == 201, response.text
        created = response.json()
        self.receiver.route(path, created["secret"])
        self.private_of_a.add(created["id"])
        self.secrets_of_a.append(created["secret"])
        return str(created["id"])


async def _build_world(world: World) -> None:
    http, sec = world.http, world.secretariat
    plans, meetings, notifications = (world.url(s) for s in ("plans", "meetings", "notifications"))
    world.a = await new_delegation(http, notifications, sec, "Matrix mission A")
    world.b = await new_delegation(http, notifications, sec, "Matrix mission B")

    plan = await create_plan(http, plans, sec)
    section = await add_section(http, plans, sec, plan["id"])
    line = await add_action_line(http, plans, sec, plan["id"], section_id=section["id"])
    lifecycle = await create_plan(http, plans, sec)
    await add_action_line(http, plans, sec, lifecycle["id"])
    world.ids.update(
        plan_id=plan["id"],
        plan_code=plan["code"],
        line_id=line["id"],
        lifecycle_plan=lifecycle["id"],
    )

    meeting = await schedule(
        http, meetings, sec, meeting_body("MATRIX", "2020-09-15T09:00:00+07:00")
    )
    running = await schedule(
        http, meetings, sec, meeting_body("MATRIX", "2020-10-15T09:00:00+07:00")
    )
    to_cancel = await schedule(
        http, meetings, sec, meeting_body("MATRIX", "2020-11-15T09:00:00+07:00")
    )
    await act(http, meetings, sec, running["id"], "start")
    commitment = await decide(
        http,
        meetings,
        sec,
        running["id"],
        "Experts",
        {"kind": "commitment", "party": "UN", "text": "Provide experts"},
    )
    world.ids.update(
        meeting_id=running["id"],
        lifecycle_meeting=meeting["id"],
        cancelled_meeting=to_cancel["id"],
        decision_id=commitment["id"],
        delegation="VNM",
        code=world.a,
        grouping=f"MATRIX{uuid.uuid4().hex[:6]}",
        role="co-chairs",
        kind="statement",
    )

    # A follows the plan with an endpoint; a status change gives it a delivery and an entry.
    followed = await subscribe(http, notifications, world.a, "plan", plan["id"])
    world.private_of_a.add(followed["id"])
    world.ids["subscription_id"] = followed["id"]
    world.ids["endpoint_id"] = await world.new_endpoint_of_a()
    world.ids["contact_id"] = await world.new_contact_of_a()
    changed = await http.patch(
        f"{plans}/action-lines/{line['id']}/status",
        json={"status": "ongoing", "expected_version": line["version"]},
        headers=sec,
    )
    assert changed.status_code == 200, changed.text
    history = await http.get(f"{plans}/action-lines/{line['id']}/history", headers=sec)
    # The line's first change (a journal entry; "entry_id" of the inbox routes is another id).
    world.ids["journal_entry_id"] = str(history.json()["items"][-1]["id"])
    deliveries = await eventually(
        lambda: listed(http, f"{notifications}/deliveries", headers_of(world.a)),
        what="a delivery to A's endpoint",
    )
    entries = await eventually(
        lambda: listed(http, f"{notifications}/inbox", headers_of(world.a)),
        what="an inbox entry of A",
    )
    figure = await http.post(
        f"{plans}/figures",
        json={"plan_id": plan["id"], "scope": "plan", "as_of": "2020-09-15"},
        headers=sec,
    )
    assert figure.status_code in (200, 201), figure.text
    world.ids["figure_id"] = str(figure.json()["id"])
    world.ids["delivery_id"] = str(deliveries[0]["id"])
    world.ids["entry_id"] = str(entries[0]["id"])


def _principal_headers(world: World) -> dict[str, dict[str, str]]:
    expired = issue_token(SIGNING_KEY, subject="late", role=Role.SECRETARIAT, ttl=timedelta(-1))
    forged = issue_token(SigningKey.generate(), subject="x", role=Role.SECRETARIAT)
    return {
        "none": {},
        "expired": {"Authorization": f"Bearer {expired}"},
        "bad_signature": {"Authorization": f"Bearer {forged}"},
        "viewer": {"Authorization": f"Bearer {token(Role.VIEWER)}"},
        "delegation_a": headers_of(world.a),
        "delegation_b": headers_of(world.b),
        "secretariat": world.secretariat,
    }


async def _history_entry(world: World, line_url: str, entry_id: str) -> dict[str, Any]:
    """One entry of a line's history, on whichever page it is: the matrix changes the line's
    status many times, so its first change soon leaves the first page."""
    cursor: str | None = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        page = await world.http.get(f"{line_url}/history", params=params, headers=world.secretariat)
        body = page.json()
        for entry in body["items"]:
            if str(entry["id"]) == entry_id:
                return dict(entry)
        cursor = body["next_cursor"]
        assert cursor is not None, f"entry {entry_id} is not in the line's history"


async def _body(world: World, name: str) -> Any:
    """Valid request bodies, fresh for each call where the resource must be new."""
    plans_url = world.url("plans")
    unique = uuid.uuid4().hex[:8]
    if name == "new_plan":
        return {"code": f"M-{unique}", "title": "Matrix plan", "partners": ["ASEAN"],
                "period_start": "2021-01-01", "period_end": "2025-12-31"}  # fmt: skip
    if name == "new_section":
        return {"code": unique[:6], "title": "Matrix pillar"}
    if name == "new_line":
        return {"code": unique[:6], "text": "Matrix line"}
    if name in ("line_update", "line_status"):
        current = await world.http.get(
            f"{plans_url}/action-lines/{world.ids['line_id']}", headers=world.secretariat
        )
        version = current.json()["version"]
        if name == "line_update":
            return {"text": f"Matrix line {unique}", "expected_version": version}
        status = "on_hold" if current.json()["status"] == "ongoing" else "ongoing"
        return {"status": status, "expected_version": version}
    if name == "history_correction":  # the line's first change, a day earlier each time
        line_url = f"{plans_url}/action-lines/{world.ids['line_id']}"
        current = await world.http.get(line_url, headers=world.secretariat)
        first = await _history_entry(world, line_url, str(world.ids["journal_entry_id"]))
        earlier = date.fromisoformat(first["effective_date"]) - timedelta(days=1)
        return {
            "effective_date": earlier.isoformat(),
            "reason": "matrix",
            "expected_version": current.json()["version"],
        }
    if name == "plan_document":
        exported = await world.http.get(
            f"{plans_url}/plans/{world.ids['plan_id']}/export", headers=world.secretariat
        )
        document = exported.json()
        document["plan"]["code"] = f"M-{unique}"
        return document
    if name == "new_meeting":
        return meeting_body("MATRIX", "2021-09-15T09:00:00+07:00")
    if name == "postpone":
        return {"starts_at": "2020-09-16T09:00:00+07:00", "ends_at": "2020-09-16T12:00:00+07:00"}
    if name == "statement":
        return {"title": "Statement", "body": {"kind": "statement", "text": "Agreed."}}
    if name == "new_figure":
        return {"plan_id": world.ids["plan_id"], "scope": "plan", "as_of": "2020-09-15"}
    if name == "new_delegation":
        return {"code": f"M{unique.upper()[:7]}", "name": "Matrix", "timezone": "Asia/Jakarta"}
    if name == "new_role":
        return {"name": f"Matrix role {unique}", "single_holder": False}
    if name == "new_assignment":  # a role of its own, held by A from a date
        role = {"name": f"Matrix role {unique}", "single_holder": False}
        notifications = world.url("notifications")
        made = await world.http.post(f"{notifications}/roles", json=role, headers=world.secretariat)
        assert made.status_code == 201, made.text
        return {"role": role["name"], "delegation": world.a, "valid_from": "2020-01-01"}
    if name == "subscription_for_a":
        return {"delegation": world.a, "target_kind": "tag", "target_key": f"matrix-{unique}"}
    if name == "contact_for_a":
        address = f"matrix.{unique}@example.org"
        return {"delegation": world.a, "name": "Matrix", "address": address, "role": "ambassador"}
    if name == "endpoint_for_a":
        return {"delegation": world.a, "url": world.receiver.url(f"/a/{unique}")}
    raise AssertionError(name)


def _fill(value: Any, world: World) -> Any:
    if isinstance(value, str):
        return value.replace("{a}", world.a)
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


async def _call(
    world: World, service: str, method: str, path: str, spec: dict[str, Any], headers: dict
) -> httpx.Response:
    ids = dict(world.ids)
    if spec.get("plan") == "lifecycle":
        ids["plan_id"] = ids["lifecycle_plan"]
    if spec.get("meeting") == "lifecycle":
        ids["meeting_id"] = ids["lifecycle_meeting"]
    if spec.get("meeting") == "cancelled":
        ids["meeting_id"] = ids["cancelled_meeting"]
    if spec.get("entry") == "journal":
        ids["entry_id"] = ids["journal_entry_id"]
    fresh: dict[str, Callable[[], Awaitable[str]]] = {
        "subscription": world.new_subscription_of_a,
        "endpoint": world.new_endpoint_of_a,
        "contact": world.new_contact_of_a,
    }
    if "fresh" in spec:  # deleting: every caller gets an object of A's that still exists
        ids[f"{spec['fresh']}_id"] = await fresh[spec["fresh"]]()
    url = world.url(service) + path.format(**ids)
    kwargs: dict[str, Any] = {"headers": dict(headers), "params": _fill(spec.get("params"), world)}
    if "json" in spec:
        body = spec["json"]
        kwargs["json"] = await _body(world, body) if isinstance(body, str) else _fill(body, world)
    if spec.get("csv"):
        kwargs["content"] = f"code,text\n{uuid.uuid4().hex[:6]},Imported by the matrix\n"
        kwargs["headers"]["Content-Type"] = "text/csv"
    if path == "/stream":  # an endless response: the status is all there is to check
        async with world.http.stream(method, url, **kwargs) as response:
            return response
    return await world.http.request(method, url, **kwargs)


async def test_every_route_answers_every_caller_as_designed(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    with Receiver().running() as receiver:
        world = World(services, http, secretariat_headers, receiver)
        await _build_world(world)
        principals = _principal_headers(world)

        documented = set()
        for service in ("plans", "meetings", "notifications"):
            document = (await http.get(f"{services.url(service)}/openapi.json")).json()
            for path, operations in document["paths"].items():
                for method in operations:
                    documented.add((service, method.upper(), path))
        assert documented == set(ROUTES), (
            f"routes without a row: {sorted(documented - set(ROUTES))}; "
            f"rows without a route: {sorted(set(ROUTES) - documented)}"
        )

        wrong: list[str] = []
        cells = allowed = 0
        for (service, method, path), (rule_name, spec) in ROUTES.items():
            rule = RULES[rule_name]
            for principal in PRINCIPALS:
                expected = rule.expected(principal)
                response = await _call(world, service, method, path, spec, principals[principal])
                cells += 1
                got = response.status_code
                where = f"{service} {method} {path} as {principal}: {got}"
                if expected == OK:
                    fine = 200 <= got < 300
                    allowed += 1
                else:
                    fine = got == expected
                if not fine:
                    wrong.append(f"{where}, expected {expected}")
                elif got >= 400:
                    problem = response.json() if path != "/stream" else {"status": got}
                    if problem.get("status") != got:
                        wrong.append(f"{where}: not a problem document: {response.text[:200]}")
                if principal == "delegation_b" and path != "/stream":
                    # A 404 may echo the id B asked for; anything else of A's is a leak.
                    asked = str(response.request.url)
                    leaked = [s for s in world.private_of_a | set(world.secrets_of_a)
                              if s in response.text and s not in asked]  # fmt: skip
                    if leaked:
                        wrong.append(f"{where}: shows A's {leaked}")

        print(f"authorisation matrix: {len(ROUTES)} routes x {len(PRINCIPALS)} callers = "
              f"{cells} cells, {allowed} of them allowed (2xx)")  # fmt: skip
        assert not wrong, "\n".join(wrong)
        assert cells == len(ROUTES) * len(PRINCIPALS)

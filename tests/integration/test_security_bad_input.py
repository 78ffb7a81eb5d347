"""Bad input is answered with a problem document, never a 500: the regressions of what fuzzing
and an outside probe found, and the limits every service sets (body size, page size, text
length, unknown fields); NUL and surrogates in every path and query parameter, forged cursors
and times beyond the calendar on every list, for each caller role."""

import base64
import json
import uuid
from collections.abc import Callable, Iterable

import httpx
import pytest

from shared.auth import Role
from shared.problems import PROBLEM_MEDIA_TYPE
from tests.support.api import add_action_line, create_plan
from tests.support.meetings import meeting_body, schedule
from tests.support.notifications import headers_of, new_delegation
from tests.support.probing import Parameter, body_for, operations, url_for
from tests.support.stack import SERVICE_NAMES, Services, token

pytestmark = pytest.mark.integration

TOO_BIG = 2**63  # one more than PostgreSQL's bigint holds


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict = response.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    "text", ["nul \u0000 inside", "lone surrogate \ud800"], ids=["nul", "surrogate"]
)
async def test_text_the_database_cannot_store_is_refused_not_a_500(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str], text: str
) -> None:
    body = {
        "code": f"NUL-{uuid.uuid4().hex[:6]}",
        "title": "A plan",
        "partners": ["ASEAN", text],
        "period_start": "2016-01-01",
        "period_end": "2020-12-31",
    }
    # json.dumps escapes both as \u0000 / \ud800, as a client's JSON would.
    response = await http.post(
        f"{services.url('plans')}/plans",
        content=json.dumps(body),
        headers={**secretariat_headers, "Content-Type": "application/json"},
    )
    problem = _problem(response, 422)
    assert problem["errors"][0]["field"].startswith("body.partners")


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", f"/deliveries/{TOO_BIG}", {}),
        ("POST", f"/deliveries/{TOO_BIG}/redeliver", {}),
        ("POST", f"/inbox/{TOO_BIG}/read", {}),
        ("GET", "/stream?delegation=VNM", {"Last-Event-ID": str(TOO_BIG)}),
    ],
)
async def test_numbers_beyond_the_database_range_are_refused_not_a_500(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    method: str,
    path: str,
    headers: dict[str, str],
) -> None:
    url = services.url("notifications") + path
    response = await http.request(method, url, headers={**secretariat_headers, **headers})
    _problem(response, 422)


async def test_a_counting_rule_version_beyond_range_is_refused_not_a_500(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base = services.url("plans")
    plan = await create_plan(http, base, secretariat_headers)
    response = await http.get(
        f"{base}/plans/{plan['id']}/rollups",
        params={"rule_version": 2**31},
        headers=secretariat_headers,
    )
    _problem(response, 422)


async def test_action_lines_can_be_filtered_by_tag(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    # Found by fuzzing: any `tag` filter was a 500 (ARRAY.contains on the generic ARRAY type).
    base = services.url("plans")
    plan = await create_plan(http, base, secretariat_headers)
    tagged = await add_action_line(http, base, secretariat_headers, plan["id"], tags=["cyber"])
    await add_action_line(http, base, secretariat_headers, plan["id"], tags=["maritime"])

    response = await http.get(
        f"{base}/plans/{plan['id']}/action-lines",
        params={"tag": "cyber"},
        headers=secretariat_headers,
    )

    assert response.status_code == 200, response.text
    assert [line["id"] for line in response.json()["items"]] == [tagged["id"]]


# --- path and query parameters, cursors and times, on every operation (issue 19) ------------
#
# Found by an outside probe: NUL in a query or path parameter (`?tag=%00`, `/delegations/%00`)
# reached a WHERE clause and failed in the driver; so did a forged cursor holding an id beyond
# bigint or a NUL, and a time whose UTC instant is outside years 1-9999. Each was a 500.

CALLERS = {
    "secretariat": token(Role.SECRETARIAT),
    "delegation": token(Role.DELEGATION, "VNM"),
    "viewer": token(Role.VIEWER),
}
UNSTORABLE = {"nul": "a\x00b", "surrogate": "\ud800", "lone-nul": "\x00"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Not a cursor of any list: ids are digits within bigint, keys lists of storable strings.
FORGED_CURSORS = {
    "garbage": "!!!not-base64!!!",
    "not-ascii": "é",
    "bytes": _b64(b"\xff\xfe\x00"),
    "negative": _b64(b"-1"),
    "spaces": _b64(b" 1 "),
    "beyond-bigint": _b64(str(2**63).encode()),
    "far-beyond-bigint": _b64(str(10**40).encode()),
    "json-object": _b64(b'{"after": 1}'),
    "json-null": _b64(b"null"),
    "numbers": _b64(b"[1, 2]"),
    "booleans": _b64(b"[true, false]"),
    "nul-key": _b64(b'["\\u0000"]'),
    "nul-keys": _b64(b'["\\u0000", "b"]'),
    "surrogate-keys": _b64(b'["\\ud800", "x"]'),
    "huge-number-key": _b64(b"[1e400, 99999999999999999999999]"),
}
EDGE_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.fixture(scope="module")
async def known(services: Services) -> dict[str, str]:
    """Values for every path parameter, naming objects that exist where that matters (a
    query parameter of a list under an unknown plan never reaches the database)."""
    headers = {"Authorization": f"Bearer {CALLERS['secretariat']}"}
    async with httpx.AsyncClient(timeout=30) as http:
        plan = await create_plan(http, services.url("plans"), headers)
        line = await add_action_line(http, services.url("plans"), headers, plan["id"])
        body = meeting_body("Probe series", "2020-09-15T09:00:00+07:00")
        meeting = await schedule(http, services.url("meetings"), headers, body)
    return {
        "plan_id": plan["id"],
        "line_id": line["id"],
        "meeting_id": meeting["id"],
        "decision_id": str(uuid.uuid4()),
        "subscription_id": str(uuid.uuid4()),
        "endpoint_id": str(uuid.uuid4()),
        "delivery_id": "1",
        "entry_id": "1",
        "grouping": "ASEAN",
        "code": "VNM",
        "delegation": "VNM",
        "on": "2020-09-15",
        "contact_id": str(uuid.uuid4()),
        "figure_id": str(uuid.uuid4()),
        "kind": "statement",
        "role": "co-chairs",
    }


Sent = list[tuple[str, Parameter, httpx.Response | None]]


async def _probe(
    services: Services,
    service: str,
    caller: str,
    known: dict[str, str],
    values_for: Callable[[Parameter], Iterable[str]],
) -> Sent:
    """Every operation of the service called once per value ``values_for`` gives each of its
    path and query parameters (the others as in ``known``): what each call was and its answer
    (None when the connection broke, as it does after a 500)."""
    base = services.url(service)
    headers = {"Authorization": f"Bearer {CALLERS[caller]}"}
    sent: Sent = []
    async with httpx.AsyncClient(timeout=30) as http:
        for operation in await operations(http, base):
            for parameter in operation.parameters:
                for value in values_for(parameter):
                    url = url_for(base, operation, known, (parameter, value))
                    case = f"{caller} {operation} {parameter.field}={value!r}"
                    try:
                        response: httpx.Response | None = await http.request(
                            operation.method, url, json=body_for(operation), headers=headers
                        )
                    except httpx.HTTPError:
                        response = None
                    sent.append((case, parameter, response))
    return sent


def _names_it(response: httpx.Response, parameter: Parameter) -> bool:
    """A 4xx problem whose `errors` name the parameter."""
    if response.headers.get("content-type") != PROBLEM_MEDIA_TYPE:
        return False
    fields = [e["field"] for e in response.json().get("errors") or []]
    return 400 <= response.status_code < 500 and parameter.field in fields


def _not_refused_naming_it(sent: Sent) -> list[str]:
    return [
        f"{case}: {response.status_code if response else 'connection broken'}"
        + (f" {response.text[:200]}" if response else "")
        for case, parameter, response in sent
        if response is None or not _names_it(response, parameter)
    ]


def _forged_cursors(parameter: Parameter) -> Iterable[str]:
    return FORGED_CURSORS.values() if parameter.name == "cursor" else ()


# NUL and surrogates in every parameter, from each role (refused before the role is looked
# at); forged cursors on every list, from the secretariat (who may read every list).
BAD_PARAMETERS = [("unstorable", caller) for caller in CALLERS] + [("forged-cursor", "secretariat")]
VALUES_FOR: dict[str, Callable[[Parameter], Iterable[str]]] = {
    "unstorable": lambda _: UNSTORABLE.values(),
    "forged-cursor": _forged_cursors,
}


@pytest.mark.parametrize(("kind", "caller"), BAD_PARAMETERS)
@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_bad_path_and_query_parameters_are_refused_naming_them_on_every_operation(
    services: Services, known: dict[str, str], service: str, kind: str, caller: str
) -> None:
    sent = await _probe(services, service, caller, known, VALUES_FOR[kind])
    assert len(sent) >= len(FORGED_CURSORS)
    wrong = _not_refused_naming_it(sent)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_times_beyond_the_calendar_in_utc_are_refused_naming_them_on_every_filter(
    services: Services, known: dict[str, str], service: str
) -> None:
    """Date-time filters are refused (their UTC instant cannot be stored); date filters
    take the day and answer, or refuse naming the parameter; none is a 500."""

    def times(parameter: Parameter) -> Iterable[str]:
        return EDGE_TIMES if parameter.is_a("date-time") else ()

    def dates(parameter: Parameter) -> Iterable[str]:
        return [*EDGE_TIMES, "0001-01-01", "9999-12-31"] if parameter.is_a("date") else ()

    wrong = _not_refused_naming_it(await _probe(services, service, "secretariat", known, times))
    for case, parameter, response in await _probe(services, service, "secretariat", known, dates):
        if response is None or not (response.status_code < 400 or _names_it(response, parameter)):
            wrong.append(f"{case}: {response.status_code if response else 'connection broken'}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("edge", EDGE_TIMES)
async def test_times_beyond_the_calendar_in_utc_are_refused_in_bodies(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    known: dict[str, str],
    edge: str,
) -> None:
    meetings = services.url("meetings")
    cases = [
        (
            f"{meetings}/meetings",
            {**meeting_body("Edge", "2020-09-15T09:00:00+07:00"), "starts_at": edge},
            "starts_at",
        ),
        (
            f"{meetings}/meetings/{known['meeting_id']}/postpone",
            {"starts_at": edge, "ends_at": "2021-01-01T00:00:00Z"},
            "starts_at",
        ),
        (
            f"{services.url('notifications')}/endpoints/{known['endpoint_id']}/recover",
            {"since": edge},
            "since",
        ),
    ]
    for url, body, field in cases:
        response = await http.post(url, json=body, headers=secretariat_headers)
        problem = _problem(response, 422)
        assert f"body.{field}" in [e["field"] for e in problem["errors"]], (url, problem)


async def test_a_body_announced_over_the_limit_is_a_413_problem(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    # Found by the probe: Starlette sent its own plain-text 413 when Content-Length was over.
    response = await http.post(
        f"{services.url('meetings')}/meetings",
        content=b"x" * 1_100_000,
        headers={**secretariat_headers, "Content-Type": "application/json"},
    )
    _problem(response, 413)


async def test_secrets_are_not_cached_and_booleans_are_not_read_from_strings(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    """Found by the probe: answers carrying a `whsec_` secret had no `Cache-Control:
    no-store`; lax validation read `"enabled": "yes"` as true where the schema says boolean."""
    base = services.url("notifications")
    owner = headers_of(await new_delegation(http, base, secretariat_headers))
    created = await http.post(
        f"{base}/endpoints", json={"url": "http://127.0.0.1:9/hook"}, headers=owner
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    rotated = await http.post(f"{base}/endpoints/{endpoint['id']}/rotate-secret", headers=owner)
    for answer in (created, rotated):
        assert answer.json()["secret"].startswith("whsec_")
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"

    response = await http.patch(
        f"{base}/endpoints/{endpoint['id']}", json={"enabled": "yes"}, headers=owner
    )
    problem = _problem(response, 422)
    assert [e["field"] for e in problem["errors"]] == ["body.enabled"]

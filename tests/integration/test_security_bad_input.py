"""Bad input is answered with a problem document, never a 500: the regressions of what fuzzing
found, and the limits every service sets (body size, page size, text length, unknown fields)."""

import json
import uuid

import httpx
import pytest

from shared.problems import PROBLEM_MEDIA_TYPE
from tests.support.api import add_action_line, create_plan
from tests.support.stack import Services

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

"""What could never work is refused on the field at fault: a subscription to a plan, section,
line or meeting series nobody ever published (422 on target_key), a meeting participant no
registered delegation has (422 on participants.N). Each service decides from its own read
model of the others' events, so something created a moment ago is refused until its event
is taken in: a client tries again, and the second try (or a later one) is accepted."""

import uuid

import httpx
import pytest

from tests.support.api import create_plan
from tests.support.meetings import meeting_body
from tests.support.notifications import headers_of, new_delegation
from tests.support.stack import Services
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def _fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("plan", str(uuid.uuid4())),
        ("section", str(uuid.uuid4())),
        ("action_line", str(uuid.uuid4())),
        ("meeting_series", "A series that never met"),
    ],
)
async def test_a_subscription_to_something_that_does_not_exist_is_a_422_on_target_key(
    services: Services,
    http: httpx.AsyncClient,
    secretariat_headers: dict[str, str],
    kind: str,
    key: str,
) -> None:
    base = services.url("notifications")
    code = await new_delegation(http, base, secretariat_headers)
    response = await http.post(
        f"{base}/subscriptions",
        json={"target_kind": kind, "target_key": key},
        headers=headers_of(code),
    )
    assert _fields(response) == ["body.target_key"]
    assert "is known to notifications" in response.json()["detail"]


async def test_a_brand_new_plan_can_be_followed_once_notifications_has_seen_it(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base = services.url("notifications")
    code = await new_delegation(http, base, secretariat_headers)
    plan = await create_plan(http, services.url("plans"), secretariat_headers)

    async def subscribed() -> httpx.Response | None:
        response = await http.post(
            f"{base}/subscriptions",
            json={"target_kind": "plan", "target_key": plan["id"]},
            headers=headers_of(code),
        )
        return response if response.status_code != 422 else None

    response = await eventually(subscribed, what="the subscription to the new plan")
    assert response.status_code == 201, response.text


async def test_a_participant_no_delegation_has_is_a_422_and_a_new_one_is_taken_once_known(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    meetings = services.url("meetings")
    series = f"CPR-{uuid.uuid4().hex[:6]}"
    body = meeting_body(series, "2020-09-15T09:00:00+07:00")
    body["participants"] = ["VNM", "UN", "QQQ"]
    response = await http.post(f"{meetings}/meetings", json=body, headers=secretariat_headers)
    assert _fields(response) == ["body.participants.2"]
    assert "QQQ" in response.json()["detail"]

    newcomer = await new_delegation(http, services.url("notifications"), secretariat_headers)
    body["participants"] = ["VNM", "UN", newcomer]

    async def scheduled() -> httpx.Response | None:
        response = await http.post(f"{meetings}/meetings", json=body, headers=secretariat_headers)
        if response.status_code == 422:
            assert _fields(response) == ["body.participants.2"]
            return None
        return response

    response = await eventually(scheduled, what="meetings to know the new delegation")
    assert response.status_code == 201, response.text
    assert [p["delegation"] for p in response.json()["participants"]] == ["VNM", "UN", newcomer]

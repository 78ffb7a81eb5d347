"""The notifications API's rules: unsafe webhook URLs refused, dated membership, roles."""

import httpx
import pytest

from shared.auth import Role
from tests.support.notifications import headers_of, new_delegation
from tests.support.stack import Services, token

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://[::ffff:100.64.0.1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://0x0a000001/hook",
        "http://[fd00::1]/hook",
        "ftp://8.8.8.8/hook",
    ],
)
async def test_an_unsafe_webhook_url_is_refused_with_422_on_the_url(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str], url: str
) -> None:
    base = services.url("notifications")
    code = await new_delegation(http, base, secretariat_headers)
    response = await http.post(f"{base}/endpoints", json={"url": url}, headers=headers_of(code))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body.url"


@pytest.mark.parametrize(("on", "count"), [("2020-09-15", 10), ("2025-10-26", 11)])
async def test_asean_membership_is_dated(
    services: Services, http: httpx.AsyncClient, on: str, count: int
) -> None:
    response = await http.get(
        f"{services.url('notifications')}/groupings/ASEAN/members",
        params={"on": on},
        headers={"Authorization": f"Bearer {token(Role.VIEWER)}"},
    )
    assert response.status_code == 200, response.text
    members = response.json()["members"]
    assert len(members) == count
    assert ("TLS" in members) is (count == 11)


async def test_a_delegation_cannot_act_for_another_and_a_viewer_has_no_inbox(
    services: Services, http: httpx.AsyncClient, secretariat_headers: dict[str, str]
) -> None:
    base = services.url("notifications")
    code = await new_delegation(http, base, secretariat_headers)
    for_other = await http.post(
        f"{base}/subscriptions",
        json={"delegation": "VNM", "target_kind": "tag", "target_key": "x"},
        headers=headers_of(code),
    )
    assert for_other.status_code == 403
    viewer = {"Authorization": f"Bearer {token(Role.VIEWER)}"}
    assert (await http.get(f"{base}/inbox", headers=viewer)).status_code == 403
    unnamed = await http.post(
        f"{base}/subscriptions",
        json={"target_kind": "tag", "target_key": "x"},
        headers=secretariat_headers,
    )
    assert unnamed.status_code == 422
